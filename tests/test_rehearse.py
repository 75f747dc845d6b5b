"""``make rehearse`` on a tiny notebook against a stub server on a loopback port (no key, no
project server, no network): the table, the exit status, the drift report, and that the
lesson and its cassettes stay untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_record_interrupt import NOTEBOOK, PROJECT_ROOT, REPLY, Workspace, workspace  # noqa: F401 (fixture)


def rehearse(space: Workspace, *extra: str) -> tuple[int, str, Path]:
    runs = space.root / "runs"
    process = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.rehearse", "--provider", "local", "--notebook", NOTEBOOK,
         "--out", str(runs), *extra],
        cwd=PROJECT_ROOT, env=space.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    newest = max(runs.iterdir(), key=lambda folder: folder.stat().st_mtime)
    return process.returncode, process.stdout, newest


def row(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(NOTEBOOK + " "))


def test_ok_run_counts_tokens_and_touches_nothing(workspace: Workspace) -> None:  # noqa: F811
    before = workspace.snapshot()
    code, output, folder = rehearse(workspace)
    assert code == 0, output
    line = row(output)
    assert "| ok " in line and "| 3+2 " in line and "0.0000 CNY" in line, line
    assert "\x1b[" not in output
    assert (folder / f"{NOTEBOOK}.ipynb").is_file() and (folder / "report.txt").is_file()
    assert workspace.snapshot() == before  # lesson, cassettes and manifest byte-identical


def test_failure_names_the_cell_and_exits_non_zero(workspace: Workspace) -> None:  # noqa: F811
    workspace.stub.status = 500
    code, output, _folder = rehearse(workspace)
    assert code == 1
    line = row(output)
    assert "| 失败 " in line and "单元格 [2]" in line and "InternalServerError" in line, line
    assert "\n" not in line


def test_drift_found_when_the_shape_changes_and_none_right_after(workspace: Workspace) -> None:  # noqa: F811
    _code, _output, first = rehearse(workspace)
    baseline = str(first / "cassettes")

    code, output, _folder = rehearse(workspace, "--baseline", baseline)
    assert code == 0
    assert "比较了 1 个请求，0 个形状有变化" in output and "| 0/1 " in row(output), output

    changed = dict(REPLY, system_fingerprint="b1")
    message = {"role": "assistant", "content": "你好", "reasoning_content": "想一想"}
    changed["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
    changed["created"] = "1"
    del changed["usage"]
    workspace.stub.reply = changed
    code, output, _folder = rehearse(workspace, "--baseline", baseline)
    assert code == 0
    assert "+ system_fingerprint: string" in output, output
    assert "+ choices[].message.reasoning_content: string" in output
    assert "- usage: object（含 completion_tokens, prompt_tokens, total_tokens）" in output
    assert "~ created: number → string" in output
    assert "1 个形状有变化" in output and "| 1/1 " in row(output)
