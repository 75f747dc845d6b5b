from __future__ import annotations

import pytest

from tutorial_kit.codeblocks import code_blocks, extract_python, find_sort_function

FENCE = "`" * 3


def fenced(code: str, tag: str = "python", fence: str = FENCE) -> str:
    return f"{fence}{tag}\n{code}\n{fence}"


@pytest.mark.parametrize("tag", ["python", "py", "Python3", ""])
def test_block_with_or_without_language_tag(tag: str) -> None:
    answer = f"Here you go:\n\n{fenced('print(1)', tag)}\n\nHope it helps."
    assert extract_python(answer) == "print(1)\n"


def test_tilde_fences_and_indented_fences() -> None:
    assert extract_python(fenced("x = 1", fence="~~~")) == "x = 1\n"
    assert extract_python("Steps:\n  ```python\n  y = 2\n  ```\n") == "  y = 2\n"


def test_several_python_blocks_are_joined_in_order_and_other_languages_skipped() -> None:
    answer = "\n".join([fenced("def f():\n    return 1"), fenced("pip install x", "bash"), fenced("print(f())", "py")])
    assert extract_python(answer) == "def f():\n    return 1\n\nprint(f())\n"
    assert [block.language for block in code_blocks(answer)] == ["python", "bash", "py"]


def test_tagged_blocks_win_over_untagged_ones() -> None:
    answer = fenced("output text", "") + "\n" + fenced("z = 3")
    assert extract_python(answer) == "z = 3\n"


def test_block_cut_off_by_max_tokens_runs_to_the_end() -> None:
    assert extract_python(f"{FENCE}python\ndef g():\n    return 2") == "def g():\n    return 2\n"


def test_no_block_but_plain_code() -> None:
    assert extract_python("def h(x):\n    return x\n") == "def h(x):\n    return x\n"


@pytest.mark.parametrize("answer", ["", "I cannot write code today.", fenced("echo hi", "bash")])
def test_no_python_at_all(answer: str) -> None:
    assert extract_python(answer) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def partition(a): pass\ndef quicksort(a): pass", "quicksort"),
        ("def quick_partition(a): pass\ndef quick_sort(a): pass", "quick_partition"),
        ("def my_sort(a): pass", "my_sort"),
        ("def helper(a): pass", None),
        ("def broken(:", None),
    ],
)
def test_finding_the_function_to_test(code: str, expected: str | None) -> None:
    assert find_sort_function(code) == expected
