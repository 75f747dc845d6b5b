"""Checking a learner's exercise answer against example cases, with one line per result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .marks import FAIL, PASS


def check(function: Callable[..., Any], cases: Sequence[tuple[tuple[Any, ...], Any]]) -> None:
    """Call ``function(*args)`` for each ``(args, expected)``; report the first miss."""
    for args, expected in cases:
        try:
            got = function(*args)
        except Exception as error:  # a learner's bug is a result, not a crash
            print(f"{FAIL} 输入 {args!r} 时出错：{type(error).__name__}: {error}")
            return
        if got != expected:
            print(f"{FAIL} 输入 {args!r}：期望 {expected!r}，得到 {got!r}")
            return
    print(f"{PASS} 全部 {len(cases)} 个用例通过")
