"""``make record`` interrupted or failing at any point leaves the old cassette, manifest and
notebook byte for byte as they were (issue 11, item 6).

Each test records a tiny notebook of its own, in temporary notebook and cassette folders,
against a stub OpenAI-compatible server on a loopback port that this test runs: no key,
no project server, no network. Real SIGTERM/SIGINT go to a real ``python -m
tutorial_kit.machinery.record`` process at several points.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import psutil
import pytest
import yaml

from tutorial_kit.machinery import manifest, record

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "90_tiny"
OLD_CASSETTE = b"# the old recording: any bytes; they must survive every interruption\ninteractions: []\n"


def old_entry(notebook: str) -> dict[str, object]:
    """A manifest entry as make record writes one, dated long ago."""
    models = {"chat": "smollm2-135m", "completion": None, "code": "smollm2-135m", "vision": None, "video": None}
    return {"notebook": notebook, "provider": "local", "origin": "recorded", "base_url": "http://127.0.0.1:1/v1",
            "server": "old", "models": models, "recorded_on": "2000-01-01"}  # fmt: skip


OLD_MANIFEST = {
    "cassettes": {f"local/{name}.yaml": old_entry(name) for name in (NOTEBOOK, "other")},
    "notebooks": {NOTEBOOK: "local", "other": "local"},
}
REPLY = {
    "id": "chatcmpl-stub",
    "object": "chat.completion",
    "created": 1,
    "model": "smollm2-135m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "你好"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}
CELLS = [
    "import os, sys, time\nfrom openai import OpenAI\nfrom tutorial_kit import start_session\n"
    f'session = start_session("{NOTEBOOK}")\n'
    "client = OpenAI(api_key=session.api_key, base_url=session.base_url, max_retries=0)",
    'reply = client.chat.completions.create(model=session.model, messages=[{"role": "user", "content": "hi"}])\n'
    "print(reply.choices[0].message.content)",
    'print("a", flush=True)\nprint("warn", file=sys.stderr, flush=True)\nprint("b", flush=True)\n'
    'time.sleep(0.2)\nprint("c")',
    # TINY_PAUSE_IN=replay: in that run only, say so with a marker file, then wait to be interrupted
    'if os.environ.get("TINY_PAUSE_IN") == os.environ.get("LLM_MODE"):\n'
    '    open(os.environ["TINY_MARKER"], "w").close()\n'
    "    time.sleep(60)\n"
    'print("done")',
    'print("DASHSCOPE_API_KEY", "已设置" if os.getenv("DASHSCOPE_API_KEY") else "未设置")',
]


@dataclass
class StubServer:
    """Answers chat completions; ``hold`` keeps each request open until released."""

    status: int = 200
    hold: bool = False
    reply: dict[str, object] = field(default_factory=lambda: dict(REPLY))
    seen: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                stub.seen.set()
                if stub.hold:
                    stub.release.wait(20)
                body = json.dumps(stub.reply if stub.status == 200 else {"error": {"message": "boom"}}).encode()
                self.send_response(stub.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@dataclass
class Workspace:
    root: Path
    stub: StubServer
    base_url: str

    @property
    def cassettes(self) -> Path:
        return self.root / "cassettes"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    def env(self, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("LLM_", "TUTORIAL_"))}
        env.update(
            TUTORIAL_CASSETTE_DIR=str(self.cassettes),
            TUTORIAL_NOTEBOOK_DIR=str(self.notebooks),
            TUTORIAL_DOTENV=str(self.root / ".env"),
            LOCAL_BASE_URL=self.base_url,
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def snapshot(self) -> dict[str, bytes]:
        """Every file in both folders (the lock file aside: it is empty and kept on purpose)."""
        return {
            path.relative_to(self.root).as_posix(): path.read_bytes()
            for folder in (self.cassettes, self.notebooks)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.name != manifest.LOCK_PATH.name
        }


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    with new_workspace(tmp_path) as space:
        yield space


@contextlib.contextmanager
def new_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """Notebook and cassette folders holding the old files, and a stub server of its own."""
    stub = StubServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "cassettes" / "local").mkdir(parents=True)
    (tmp_path / "cassettes" / "local" / f"{NOTEBOOK}.yaml").write_bytes(OLD_CASSETTE)
    (tmp_path / "cassettes" / "manifest.yaml").write_text(yaml.safe_dump(OLD_MANIFEST), encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "notebooks" / f"{NOTEBOOK}.ipynb")
    try:
        yield Workspace(tmp_path, stub, f"http://127.0.0.1:{server.server_address[1]}/v1")
    finally:
        stub.release.set()
        server.shutdown()


# ``make test &`` (a background job), nohup in some shells and some CI runners start the suite with SIGINT
# ignored, and an ignored signal stays ignored across fork and exec: record would never see the Ctrl+C this
# file sends. So record starts the way it does from a terminal: SIGINT back to its default disposition
# (Python then installs its KeyboardInterrupt handler), stdin not inherited (CI closes it).
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start_record(space: Workspace, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "-m", "tutorial_kit.machinery.record", "--provider", "local",
         "--notebook", NOTEBOOK],
        cwd=PROJECT_ROOT,
        env=space.env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip


def wait_for_line(process: subprocess.Popen[str], marker: str) -> list[str]:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"record ended before printing {marker!r}: {lines}")


def assert_no_leftovers(space: Workspace, children: list[psutil.Process]) -> None:
    deadline = time.time() + 15
    while time.time() < deadline and any(child.is_running() and child.status() != "zombie" for child in children):
        time.sleep(0.2)
    alive = [child.pid for child in children if child.is_running() and child.status() != "zombie"]
    assert not alive, f"kernel processes left running: {alive}"
    temps = [path.name for path in space.root.rglob("*.tmp")]
    assert not temps, temps


POINTS = ["kernel starting", "live request open", "replaying"]


def wait_for_file(path: Path, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"record ended before {path.name} appeared"
        assert time.monotonic() < deadline, f"{path.name} did not appear within {seconds} s"
        time.sleep(0.05)


def wait_for_kernel_process(process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not psutil.Process(process.pid).children():
        assert process.poll() is None, "record ended before it started a kernel"
        assert time.monotonic() < deadline, f"record started no kernel within {seconds} s"
        time.sleep(0.02)


SCENARIOS = [(point, signal_number) for point in POINTS for signal_number in (signal.SIGTERM, signal.SIGINT)]


def interrupt_at(space: Workspace, point: str, signal_number: int) -> None:
    """One record run, signalled at the moment named: once the live kernel's process exists (still starting);
    while the live request is held open by the stub; while the replay kernel runs the notebook (the replay's
    pause cell has said so with a marker file, and waits there to be interrupted)."""
    before = space.snapshot()
    space.stub.hold = point == "live request open"
    marker = space.root / "replaying.marker"
    process = start_record(space, TINY_PAUSE_IN="replay", TINY_MARKER=str(marker))
    try:
        if point == "kernel starting":
            wait_for_line(process, "● 录制")
            wait_for_kernel_process(process)
        elif point == "live request open":
            wait_for_line(process, "● 录制")
            assert space.stub.seen.wait(60), "the notebook never reached the stub server"
        else:
            wait_for_file(marker, process)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal_number)
        output = process.communicate(timeout=60)[0]
    finally:
        space.stub.release.set()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "录制被中断" in output
    assert space.snapshot() == before
    assert_no_leftovers(space, children)


def test_a_signal_at_any_moment_leaves_old_files_byte_identical(tmp_path: Path) -> None:
    """SIGTERM and SIGINT at each of the three moments: six record runs, each in a workspace of its own.
    They mostly wait (a kernel starting, a held request, the replay's pause cell), so they run side by side;
    each is checked on its own (exit 130, the one-line message, old files byte for byte, no kernel left)."""

    def scenario(point: str, signal_number: int) -> str | None:
        name = f"{point} {signal.Signals(signal_number).name}"
        with new_workspace(tmp_path / name.replace(" ", "-")) as space:
            try:
                interrupt_at(space, point, signal_number)
            except Exception as error:  # each scenario's own failure, reported with the others'
                return f"{name}: {type(error).__name__}: {str(error)[:600]}"
        return None

    with ThreadPoolExecutor(len(SCENARIOS)) as pool:
        failures = [failure for failure in pool.map(lambda case: scenario(*case), SCENARIOS) if failure]
    assert not failures, "\n".join(failures)


def test_failing_cell_leaves_old_files_and_says_one_line(workspace: Workspace) -> None:
    before = workspace.snapshot()
    workspace.stub.status = 500
    process = start_record(workspace)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 1
    failure = [line for line in output.splitlines() if line.startswith("✘")]
    assert len(failure) == 1, output
    assert "单元格 [2]" in failure[0] and "InternalServerError" in failure[0]
    assert "\x1b[" not in output  # not a terminal: no colour codes
    assert workspace.snapshot() == before


def test_success_replaces_all_three_and_merges_streams(workspace: Workspace) -> None:
    """Also: a second record of the same answers leaves every file byte-identical (no metadata churn
    such as papermill's ``tags: []``), and another provider's key in the environment is hidden from the
    lesson, which shows what a learner without that key sees."""
    process = start_record(workspace, DASHSCOPE_API_KEY="sk-elsewhere0123456789abcdef0123")
    output = process.communicate(timeout=180)[0]
    assert process.returncode == 0, output
    first = workspace.snapshot()
    again = start_record(workspace)
    assert again.communicate(timeout=180)[0] and again.returncode == 0
    assert workspace.snapshot() == first, "a second record changed files"
    refresh = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.record", "--provider", "local", "--notebook", NOTEBOOK,
         "--outputs-only"], cwd=PROJECT_ROOT, env=workspace.env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    assert workspace.snapshot() == first, "refreshing outputs from the same recording changed files"
    assert "\x1b[" not in output
    cassette = (workspace.cassettes / "local" / f"{NOTEBOOK}.yaml").read_text(encoding="utf-8")
    assert "chatcmpl-stub" in cassette and "/v1/chat/completions" in cassette
    data = yaml.safe_load((workspace.cassettes / "manifest.yaml").read_text(encoding="utf-8"))
    assert data["notebooks"]["other"] == "local", "another notebook's entry was lost"
    assert data["cassettes"][f"local/{NOTEBOOK}.yaml"]["base_url"] == workspace.base_url
    stored = nbformat.read(workspace.notebooks / f"{NOTEBOOK}.ipynb", as_version=4)
    streams = [(out["name"], out["text"]) for out in stored.cells[2].outputs if out["output_type"] == "stream"]
    assert streams == [("stdout", "a\nb\nc\n"), ("stderr", "warn\n")]
    assert "papermill" not in stored.metadata and all("papermill" not in cell.metadata for cell in stored.cells)
    assert all(cell.metadata == {} for cell in stored.cells), [cell.metadata for cell in stored.cells]
    assert stored.cells[4].outputs[0]["text"] == "DASHSCOPE_API_KEY 未设置\n"
    assert not list(workspace.root.rglob("*.tmp"))


def test_key_in_dotenv_is_read(workspace: Workspace) -> None:
    """``make record PROVIDER=dashscope`` with the key only in .env gets past the key check
    and records (here against the stub, named by DASHSCOPE_BASE_URL in the same .env)."""
    key = "sk-dotenv0123456789abcdef0123456789"
    (workspace.root / ".env").write_text(
        f"DASHSCOPE_API_KEY={key}\nDASHSCOPE_BASE_URL={workspace.base_url}\n", encoding="utf-8"
    )
    process = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.record", "--provider", "dashscope", "--notebook", NOTEBOOK],
        cwd=PROJECT_ROOT, env=workspace.env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert process.returncode == 0, process.stdout + process.stderr
    recorded = (workspace.cassettes / "dashscope" / f"{NOTEBOOK}.yaml").read_text(encoding="utf-8")
    assert key not in recorded and key not in (workspace.notebooks / f"{NOTEBOOK}.ipynb").read_text(encoding="utf-8")


@pytest.fixture
def in_process(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """record_one in this process, pointed at the workspace, for faults no signal can make."""
    monkeypatch.setattr(record, "CASSETTE_DIR", workspace.cassettes)
    monkeypatch.setattr(record, "NOTEBOOK_DIR", workspace.notebooks)
    monkeypatch.setattr(manifest, "MANIFEST_PATH", workspace.cassettes / "manifest.yaml")
    monkeypatch.setattr(manifest, "LOCK_PATH", workspace.cassettes / ".manifest.lock")
    monkeypatch.setenv("LOCAL_BASE_URL", workspace.base_url)
    return workspace


def test_failure_while_committing_puts_old_bytes_back(in_process: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    before = in_process.snapshot()

    def manifest_fails(_change: object) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(manifest, "update_entries", manifest_fails)
    with pytest.raises(OSError, match="disk full"):
        record.record_one(in_process.notebooks / f"{NOTEBOOK}.ipynb", "local")
    assert in_process.snapshot() == before
    assert not list(in_process.root.rglob("*.tmp"))


def test_signal_during_commit_waits_for_it_to_finish(in_process: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM that lands between the renames is held until they are all done: the
    result is the complete new recording, never half old and half new."""
    real_replace = os.replace
    sent: list[bool] = []

    def replace_then_signal(source: str | Path, target: str | Path) -> None:
        real_replace(source, target)
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(record.os, "replace", replace_then_signal)
    previous = signal.signal(signal.SIGTERM, record._stop_on_sigterm)
    try:
        with pytest.raises(KeyboardInterrupt):
            record.record_one(in_process.notebooks / f"{NOTEBOOK}.ipynb", "local")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sent
    after = in_process.snapshot()
    assert after[f"cassettes/local/{NOTEBOOK}.yaml"] != OLD_CASSETTE
    data = yaml.safe_load(after["cassettes/manifest.yaml"])
    assert data["cassettes"][f"local/{NOTEBOOK}.yaml"]["origin"] == "recorded"
    assert data["cassettes"][f"local/{NOTEBOOK}.yaml"]["recorded_on"] != "2000-01-01"
    assert b"\xe4\xbd\xa0\xe5\xa5\xbd" in after[f"notebooks/{NOTEBOOK}.ipynb"]  # 你好, the replayed output
