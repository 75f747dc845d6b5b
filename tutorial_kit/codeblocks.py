"""Pulling Python code out of a model's answer, whatever shape the answer has."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+\-.]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
PYTHON_TAGS = {"python", "py", "python3", "py3"}


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str


def code_blocks(answer: str) -> list[CodeBlock]:
    """Every fenced block (``` or ~~~), with its language tag ('' when untagged).
    A block cut off by ``max_tokens`` (no closing fence) runs to the end of the text."""
    return [
        CodeBlock(match.group(2).lower(), match.group(3).rstrip() + "\n")
        for match in FENCE.finditer(answer)
        if match.group(3).strip()
    ]


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def extract_python(answer: str) -> str | None:
    """The Python code in an answer: the Python-tagged blocks joined in order; else
    the untagged blocks; else the whole answer if it parses as Python; else ``None``."""
    blocks = code_blocks(answer)
    tagged = [block.code for block in blocks if block.language in PYTHON_TAGS]
    untagged = [block.code for block in blocks if not block.language]
    chosen = tagged or untagged
    if chosen:
        return "\n".join(chosen)
    if not blocks and answer.strip() and _compiles(answer):
        return answer.strip() + "\n"
    return None


def function_names(code: str) -> list[str]:
    """Names of the top-level functions the code defines (empty if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]


def find_sort_function(code: str, preferred: str = "quicksort") -> str | None:
    """The function to test: the preferred name, else one named like quick…sort, else …sort…."""
    names = function_names(code)
    if preferred in names:
        return preferred
    for word in ("quick", "sort"):
        matches = [name for name in names if word in name.lower()]
        if matches:
            return matches[0]
    return None
