"""The sandbox contains broken and hostile code: each case from the lesson, proven."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorial_kit.sandbox import run_python
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
    assert (result.status, result.stdout) == ("ok", "hello 42\n")


def test_syntax_error_is_reported_without_running() -> None:
    result = run_python("def f(:\n    pass")
    assert result.status == "syntax_error" and "SyntaxError" in result.summary()


def test_exception_is_a_result_not_a_crash() -> None:
    result = run_python("raise ValueError('bad input')")
    assert result.status == "error" and result.last_error_line == "ValueError: bad input"


def test_infinite_loop_is_killed_within_its_timeout() -> None:
    # "timeout" is only reported after the wall-clock limit passed and the group was killed.
    result = run_python("while True:\n    pass", timeout=1.0)
    assert result.status == "timeout" and result.returncode is None


def test_child_processes_die_with_the_timeout_too() -> None:
    result = run_python("import time\ntime.sleep(30)", timeout=0.5)
    assert result.status == "timeout"


def test_memory_bomb_is_stopped_by_its_limit() -> None:
    result = run_python("hog = []\nwhile True:\n    hog.append(bytearray(10**7))", memory_mb=128, timeout=10)
    assert result.status == "memory"


def test_writing_or_deleting_outside_the_work_directory_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for code in (
        f"import os\nos.remove({str(victim)!r})",
        f"open({str(victim)!r}, 'w').write('gone')",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
        f"import os\nos.rename({str(victim)!r}, 'stolen.txt')",
    ):
        result = run_python(code)
        assert result.status == "error" and "PermissionError" in result.last_error_line, code
    assert victim.read_text() == "keep me"


def test_files_inside_the_work_directory_are_fine_and_vanish_afterwards() -> None:
    result = run_python("import os\nopen('notes.txt', 'w').write('hi')\nprint(os.path.abspath('notes.txt'))")
    assert result.status == "ok"
    assert not Path(result.stdout.strip()).exists()


def test_api_keys_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-xxx-planted-for-this-test")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-xxx-planted-too")
    result = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))")
    assert result.status == "ok"
    assert "sk-xxx" not in result.stdout and "DASHSCOPE" not in result.stdout


def test_reading_the_projects_env_file_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / ".env"
    secrets.write_text("OPENAI_API_KEY=sk-xxx-in-a-file")
    result = run_python(f"print(open({str(secrets)!r}).read())")
    assert result.status == "error" and "sk-xxx" not in result.stdout


@pytest.mark.parametrize(
    "code",
    ["import subprocess\nsubprocess.run(['true'])", "import os\nos.system('true')", "import ctypes",
     "import socket\nsocket.socket().connect(('127.0.0.1', 9))"],
)  # fmt: skip
def test_processes_sockets_and_ctypes_are_refused(code: str) -> None:
    assert "PermissionError" in run_python(code).last_error_line


def test_a_correct_quicksort_passes_validation() -> None:
    report = check_sort_code(REFERENCE)
    assert report.ok and report.passed == report.total == 11


def test_a_wrong_sort_fails_with_the_first_failing_case() -> None:
    report = check_sort_code("def quicksort(a):\n    return a[:1]")
    assert not report.ok and report.failures[0].case == "两个元素"
    assert "❌" in report.summary()


def test_validation_of_hostile_code_reports_the_refusal() -> None:
    report = check_sort_code("import os\nos.remove('/etc/hostname')\n" + REFERENCE)
    assert not report.ok and "PermissionError" in report.summary()


def test_validation_of_a_hanging_sort_times_out() -> None:
    report = check_sort_code("def quicksort(a):\n    while True:\n        pass", timeout=1.0)
    assert not report.ok and report.run is not None and report.run.status == "timeout"
