"""Lesson 14's labelled retrieval set: every question names a passage that exists."""

from __future__ import annotations

import json
from collections import Counter

from tutorial_kit.machinery.recording import PROJECT_ROOT

CORPUS = json.loads((PROJECT_ROOT / "data" / "retrieval_corpus.json").read_text(encoding="utf-8"))
QUESTIONS = json.loads((PROJECT_ROOT / "data" / "retrieval_questions.json").read_text(encoding="utf-8"))


def test_passages_have_unique_ids_in_both_languages() -> None:
    ids = [passage["id"] for passage in CORPUS]
    assert len(ids) == len(set(ids))
    assert Counter(passage["lang"] for passage in CORPUS).keys() == {"zh", "en"}
    assert all(passage["title"] and passage["text"] for passage in CORPUS)


def test_every_question_is_labelled_with_an_existing_passage_and_a_kind() -> None:
    ids = {passage["id"] for passage in CORPUS}
    assert all(question["relevant"] in ids for question in QUESTIONS)
    assert {question["kind"] for question in QUESTIONS} == {"关键词", "换说法", "跨语言"}
    assert len({question["question"] for question in QUESTIONS}) == len(QUESTIONS)
