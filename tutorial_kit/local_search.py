"""A tiny search engine over a few local documents, for the web-search-as-a-tool lesson.

Ranking is plain term overlap weighted by rarity (a small TF-IDF): English words and
Chinese character pairs are the terms, so both languages match without a tokenizer.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .machinery.environment import PROJECT_ROOT

CORPUS_PATH = PROJECT_ROOT / "data" / "search_corpus.json"


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    link: str
    publish_date: str
    content: str


@dataclass(frozen=True)
class Hit:
    refer: str
    score: float
    document: Document


def terms(text: str) -> list[str]:
    """Lower-case English words and numbers, plus every pair of adjacent Chinese characters."""
    lowered = text.lower()
    words = re.findall(r"[a-z0-9][a-z0-9_\-.]*[a-z0-9]|[a-z0-9]", lowered)
    pairs = []
    for run in re.findall(r"[\u4e00-\u9fff]+", lowered):
        pairs += [run[i : i + 2] for i in range(len(run) - 1)] or [run]
    return words + pairs


def load_corpus(path: Path = CORPUS_PATH) -> list[Document]:
    return [Document(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


def search(query: str, documents: list[Document], limit: int = 3) -> list[Hit]:
    """The best ``limit`` documents for the query, labelled ref_1, ref_2, … by rank."""
    bags = [Counter(terms(f"{doc.title} {doc.title} {doc.content}")) for doc in documents]
    def rarity_of(term: str) -> float:
        return math.log((1 + len(bags)) / (1 + sum(term in bag for bag in bags))) + 1

    rarity = {term: rarity_of(term) for term in set(terms(query))}
    scored = []
    for doc, bag in zip(documents, bags, strict=True):
        score = sum(rarity[term] * (1 + math.log(bag[term])) for term in rarity if bag[term])
        if score > 0:
            scored.append((score, doc))
    scored.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [Hit(f"ref_{rank}", round(score, 3), doc) for rank, (score, doc) in enumerate(scored[:limit], start=1)]
