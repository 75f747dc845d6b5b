"""The WebAssembly sandbox: ordinary outcomes and the behaviour check built on it.
Hostile code is in test_adversarial.py."""

from __future__ import annotations

import json

from tutorial_kit.marks import FAIL
from tutorial_kit.sandbox import call_on_cases, run_python
from tutorial_kit.sort_check import check_sort_code

REFERENCE = '''
def quicksort(items):
    if len(items) <= 1:
        return list(items)
    pivot = items[len(items) // 2]
    smaller = [x for x in items if x < pivot]
    equal = [x for x in items if x == pivot]
    larger = [x for x in items if x > pivot]
    return quicksort(smaller) + equal + quicksort(larger)
'''


def test_normal_code_runs_and_its_output_is_captured() -> None:
    result = run_python("print('hello', 6 * 7)")
    assert (result.status, result.returncode, result.stdout) == ("ok", 0, "hello 42\n")


def test_stderr_is_kept_apart_from_stdout() -> None:
    result = run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


def test_syntax_error_is_reported_without_running() -> None:
    result = run_python("print('ran')\ndef f(:\n    pass")
    assert result.status == "syntax_error" and result.stdout == "" and "SyntaxError" in result.summary()


def test_exception_is_a_result_not_a_crash() -> None:
    result = run_python("raise ValueError('bad input')")
    assert result.status == "error" and result.last_error_line == "ValueError: bad input"


def test_exit_codes_decide_ok_or_error() -> None:
    assert run_python("import sys\nsys.exit(0)").status == "ok"
    failed = run_python("import sys\nsys.exit(3)")
    assert (failed.status, failed.returncode) == ("error", 1)


def test_infinite_loop_is_killed_at_its_timeout_and_not_before() -> None:
    slow = run_python("import time\ntime.sleep(0.5)\nprint('done')", timeout=3)
    assert (slow.status, slow.stdout) == ("ok", "done\n")
    result = run_python("while True:\n    pass", timeout=1.0)
    assert result.status == "timeout" and result.returncode is None


def test_memory_bomb_hits_the_webassembly_cap() -> None:
    result = run_python("hog = []\nwhile True:\n    hog.append(bytearray(10**7))", memory_mb=128, timeout=30)
    assert result.status == "memory" and result.last_error_line == "MemoryError"


def test_a_program_within_its_memory_runs() -> None:
    result = run_python("block = bytearray(50 * 10**6)\nprint(len(block))", memory_mb=128)
    assert (result.status, result.stdout) == ("ok", "50000000\n")


def test_files_written_inside_vanish_with_the_run() -> None:
    first = run_python("open('notes.txt', 'w').write('hi')\nprint(open('notes.txt').read())")
    assert (first.status, first.stdout) == ("ok", "hi\n")
    second = run_python("import os\nprint(os.path.exists('notes.txt'))")
    assert second.stdout == "False\n"


def test_each_run_starts_from_a_fresh_interpreter() -> None:
    run_python("import builtins\nbuiltins.leftover = 1")
    assert run_python("import builtins\nprint(hasattr(builtins, 'leftover'))").stdout == "False\n"


def test_long_output_is_truncated_with_a_note() -> None:
    result = run_python("for i in range(100000):\n    print(i)", timeout=30)
    assert result.status == "ok" and result.stdout.endswith("（输出过长，已截断）") and len(result.stdout) < 20_100


def test_call_on_cases_returns_outputs_not_a_verdict() -> None:
    result = call_on_cases(REFERENCE + "\nif __name__ == '__main__':\n    print('demo')", "quicksort", [[3, 1, 2], []])
    assert result.status == "ok" and result.stdout == ""  # loaded as a module: no __main__ demo
    assert json.loads(result.result or "") == [{"got": [1, 2, 3]}, {"got": []}]


def test_a_correct_quicksort_passes_validation() -> None:
    report = check_sort_code(REFERENCE)
    assert report.ok and report.passed == report.total == 11


def test_in_place_sorts_count_as_correct() -> None:
    assert check_sort_code("def quicksort(items):\n    items.sort()").ok


def test_a_wrong_sort_fails_with_the_first_failing_case() -> None:
    report = check_sort_code("def quicksort(a):\n    return a[:1]")
    assert not report.ok and report.failures[0].case == "两个元素"
    assert report.summary().startswith(FAIL)


def test_a_missing_function_is_reported() -> None:
    report = check_sort_code("x = 1", function="quicksort")
    assert not report.ok and "NameError" in report.summary()


def test_validation_of_a_hanging_sort_times_out() -> None:
    report = check_sort_code("def quicksort(a):\n    while True:\n        pass", timeout=1.0)
    assert not report.ok and report.run is not None and report.run.status == "timeout"
