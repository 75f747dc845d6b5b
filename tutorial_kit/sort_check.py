"""Checking a generated sort function by behaviour: many inputs, compared with sorted().

The sandbox only calls the function and hands back what it returned; the expected answers
are computed here, on the host, and compared here, so nothing the code prints or fakes
inside the sandbox can turn into a pass."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from .codeblocks import find_sort_function
from .marks import FAIL, PASS
from .sandbox import RunResult, call_on_cases


def sort_cases(seed: int = 0) -> dict[str, list[float]]:
    """Named inputs covering the usual ways a sort goes wrong."""
    rng = random.Random(seed)
    return {
        "空列表": [],
        "一个元素": [7],
        "两个元素": [2, 1],
        "有重复": [5, 1, 5, 3, 1, 3],
        "全部相同": [4] * 8,
        "含负数与零": [-3, 7, 0, -1, 7, -10],
        "含小数": [0.5, -2.25, 3, 1, 0.5],
        "已排序": list(range(15)),
        "逆序": list(range(15, 0, -1)),
        "随机 30 个": [rng.randint(-50, 50) for _ in range(30)],
        "随机 300 个": [rng.randint(-1000, 1000) for _ in range(300)],
    }


@dataclass(frozen=True)
class Failure:
    case: str
    given: list[float]
    expected: list[float]
    got: object


@dataclass(frozen=True)
class SortReport:
    function: str | None
    passed: int
    total: int
    failures: list[Failure] = field(default_factory=list)
    run: RunResult | None = None

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def summary(self) -> str:
        if self.function is None:
            return f"{FAIL} 代码里没有找到排序函数（函数名应含 sort）"
        if self.run is not None and self.run.status != "ok":
            return f"{FAIL} {self.function} 没能跑完测试：{self.run.summary()}"
        head = f"{PASS if self.ok else FAIL} {self.function}：通过 {self.passed}/{self.total} 个用例"
        if not self.failures:
            return head
        first = self.failures[0]
        shown = first.given if len(first.given) <= 12 else f"{first.given[:12]}…（共 {len(first.given)} 个）"
        return f"{head}；第一个失败（{first.case}）：输入 {shown}，得到 {first.got!r:.120}"


def check_sort_code(code: str, function: str | None = None, timeout: float = 5.0) -> SortReport:
    """Run the candidate code in the sandbox and test its sort function on ``sort_cases()``."""
    name = function or find_sort_function(code)
    cases = sort_cases()
    if name is None:
        return SortReport(None, 0, len(cases))
    run = call_on_cases(code, name, list(cases.values()), timeout=timeout)
    if run.status != "ok":
        return SortReport(name, 0, len(cases), run=run)
    results = _parse_results(run.result, len(cases))
    if results is None:
        return SortReport(name, 0, len(cases), run=_as_error(run))
    failures = []
    for (case, given), result in zip(cases.items(), results, strict=True):
        expected = sorted(given)
        got = result.get("got", result.get("error"))
        if got != expected:
            failures.append(Failure(case, given, expected, got))
    return SortReport(name, len(cases) - len(failures), len(cases), failures, run)


def _parse_results(text: str | None, count: int) -> list[dict[str, object]] | None:
    """The harness's per-case outputs, or None if they are not one dict per case."""
    try:
        results = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(results, list) or len(results) != count or not all(isinstance(r, dict) for r in results):
        return None
    return results


def _as_error(run: RunResult) -> RunResult:
    return RunResult("error", run.returncode, run.stdout, run.stderr + "\n测试框架没有返回每个用例的结果")
