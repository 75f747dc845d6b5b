"""The teaching layer of lesson 03 (subprocess + limits + audit guard): what it stops,
and the real escape the lesson shows, so the lesson's claim stays true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorial_kit.sandbox_subprocess import run_in_subprocess

ESCAPE = """
import sys
frame = sys._getframe()
while frame.f_back is not None:
    frame = frame.f_back
frame.f_globals["_within"] = lambda path, roots: True  # the guard's own helper, replaced
print(open({path!r}).read())
"""


def test_limits_stop_an_endless_loop() -> None:
    assert run_in_subprocess("while True:\n    pass", timeout=1).status == "timeout"


def test_the_guard_refuses_a_direct_read(tmp_path: Path) -> None:
    secret = tmp_path / ".env"
    secret.write_text("OPENAI_API_KEY=sk-planted")
    result = run_in_subprocess(f"print(open({str(secret)!r}).read())")
    assert result.status == "error" and "PermissionError" in result.last_error_line


def test_the_guard_falls_to_a_frame_walk(tmp_path: Path) -> None:
    secret = tmp_path / ".env"
    secret.write_text("OPENAI_API_KEY=sk-planted")
    result = run_in_subprocess(ESCAPE.format(path=str(secret)))
    assert result.status == "ok" and "sk-planted" in result.stdout


@pytest.mark.parametrize("code", ["import subprocess\nsubprocess.run(['true'])", "import ctypes"])
def test_processes_and_ctypes_are_refused_directly(code: str) -> None:
    assert "PermissionError" in run_in_subprocess(code).last_error_line
