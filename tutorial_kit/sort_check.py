"""Checking a generated sort function by behaviour: many inputs, compared with sorted()."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from .codeblocks import find_sort_function
from .sandbox import RunResult, run_python

MARKER = "@@SORT_CHECK@@"

# Runs inside the sandbox: loads the candidate as a module (so its __main__ demo code
# does not run), calls the function on every case, prints one JSON line after MARKER.
HARNESS = """
import json, runpy, sys
sys.setrecursionlimit(3000)
function = runpy.run_path("main.py", run_name="candidate")[{name!r}]
results = []
for case in json.loads({cases!r}):
    argument = list(case)
    try:
        returned = function(argument)
        got = argument if returned is None else list(returned)
        results.append({{"got": got}})
    except Exception as error:
        results.append({{"error": type(error).__name__ + ": " + str(error)[:200]}})
print({marker!r} + json.dumps(results))
"""


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
            return "❌ 代码里没有找到排序函数（函数名应含 sort）"
        if self.run is not None and self.run.status != "ok":
            return f"❌ {self.function} 没能跑完测试：{self.run.summary()}"
        head = f"{'✅' if self.ok else '❌'} {self.function}：通过 {self.passed}/{self.total} 个用例"
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
    harness = HARNESS.format(name=name, cases=json.dumps(list(cases.values())), marker=MARKER)
    run = run_python(code, timeout=timeout, files={"harness.py": harness}, entry="harness.py")
    lines = [line for line in run.stdout.splitlines() if line.startswith(MARKER)]
    if run.status != "ok" or not lines:
        return SortReport(name, 0, len(cases), run=run if run.status != "ok" else _as_error(run))
    results = json.loads(lines[-1][len(MARKER) :])
    failures = []
    for (case, given), result in zip(cases.items(), results, strict=True):
        expected = sorted(given)
        got = result.get("got", result.get("error"))
        if got != expected:
            failures.append(Failure(case, given, expected, got))
    return SortReport(name, len(cases) - len(failures), len(cases), failures, run)


def _as_error(run: RunResult) -> RunResult:
    return RunResult("error", run.returncode, run.stdout, run.stderr or "测试框架没有输出结果")
