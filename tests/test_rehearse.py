"""``make rehearse`` on a tiny notebook against a stub server on a loopback port (no key, no
project server, no network): the table, the exit status, the drift report, and that the
lesson and its cassettes stay untouched."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
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


def test_failure_names_the_cell_and_exits_non_zero(workspace: Workspace) -> None:  # noqa: F811
    workspace.stub.status = 500
    code, output, _folder = rehearse(workspace)
    assert code == 1
    line = row(output)
    assert "| 失败 " in line and "单元格 [2]" in line and "InternalServerError" in line, line
    assert "\n" not in line


def test_ok_run_touches_nothing_then_drift_found_when_the_shape_changes_and_none_right_after(
    workspace: Workspace,  # noqa: F811
) -> None:
    """The first run is the plain ok run (its table row, tokens, cost, files; lesson and cassettes untouched);
    it is also the baseline the drift report compares the next two runs with."""
    before = workspace.snapshot()
    code, output, first = rehearse(workspace)
    assert code == 0, output
    line = row(output)
    assert "| ok " in line and "| 3+2 " in line and "0.0000 CNY" in line, line
    assert "\x1b[" not in output
    assert (first / f"{NOTEBOOK}.ipynb").is_file() and (first / "report.txt").is_file()
    assert workspace.snapshot() == before  # lesson, cassettes and manifest byte-identical
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


ROOM_KEY = "sk-room-Zq8xW2vK9mPn4Lr7Tb3Yc6Hd"  # a room server's key: a secret, unlike sk-local


class KeyEchoingHandler(BaseHTTPRequestHandler):
    """An endpoint whose error repeats the key it was sent, as some gateways do (a 400: the kit shows
    the server's own message for it)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        message = f"Incorrect API key provided: {self.headers.get('authorization', '')}"
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_key_echoed_by_the_endpoint_is_scrubbed_from_screen_report_and_executed_copy(
    workspace: Workspace,  # noqa: F811
) -> None:
    server = HTTPServer(("127.0.0.1", 0), KeyEchoingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runs = workspace.root / "runs"
    try:
        process = subprocess.run(
            [sys.executable, "-m", "tutorial_kit.machinery.rehearse", "--provider", "local", "--notebook", NOTEBOOK,
             "--out", str(runs)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
            env={**workspace.env(LOCAL_API_KEY=ROOM_KEY), "LOCAL_BASE_URL": f"http://127.0.0.1:{server.server_port}/v1"},
        )  # fmt: skip
    finally:
        server.shutdown()
    folder = next(runs.iterdir())
    assert process.returncode == 1 and "BadRequestError" in row(process.stdout), process.stdout
    assert "REDACTED" in row(process.stdout)
    written = {path.name: path.read_text(encoding="utf-8") for path in folder.iterdir() if path.is_file()}
    assert {"report.txt", f"{NOTEBOOK}.ipynb"} <= set(written)
    for where, text in {"screen": process.stdout + process.stderr, **written}.items():
        assert ROOM_KEY not in text and ROOM_KEY[8:20] not in text, where
