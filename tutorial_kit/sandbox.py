"""Running untrusted (e.g. model-written) Python behind a real boundary.

The code runs in Pyodide (CPython compiled to WebAssembly) inside a Deno process that may
read the Pyodide package and nothing else: no host files, no writes, no network, no
environment, no subprocesses. Each run gets a fresh process started from a memory snapshot;
the next one is started in the background as soon as a run begins, so a run rarely waits.

The host (this module) decides the outcome: it kills the process at the wall-clock limit
or when its resident memory passes the cap, bounds how much output it keeps, and takes the
status only from how the process ended and from the runner's own frames, which carry a
per-run secret the code never sees: Pyodide runs in a Web Worker, a JavaScript realm of its
own, and the secret and the frames stay in the runner's realm, which the code cannot reach
(sandbox_runner/runner.mjs). Nothing the code prints or rewrites can change the status.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from . import sandbox_install

OUTPUT_LIMIT = 20_000
"""Characters of stdout and of stderr kept per run."""
RAW_OUTPUT_LIMIT = 8_000_000
"""Bytes the worker may write before it is killed (the runner itself sends at most ~2 MB)."""
FRAME_LIMIT = 2_000_000
"""Bytes in one line from the worker; the runner's frames stay well below it."""
STARTUP_LIMIT = 120.0
"""Seconds a worker may take to load Pyodide, on top of the run's own ``timeout``."""
JS_HEAP_MB = 256
PROCESS_OVERHEAD_MB = 448
"""Resident memory of a loaded worker before the code allocates anything, with headroom."""
MIN_MEMORY_MB = 48

SUMMARIES = {
    "ok": "正常结束",
    "syntax_error": "语法错误，没有运行",
    "error": "运行时抛出异常",
    "timeout": "超时，已强制终止",
    "memory": "内存超出上限，已终止",
    "output": "输出超过上限，已终止",
    "killed": "沙箱进程意外结束",
}


@dataclass(frozen=True)
class RunResult:
    status: str
    """One of ``ok``, ``syntax_error``, ``error``, ``timeout``, ``memory``, ``output``, ``killed``."""
    returncode: int | None
    stdout: str
    stderr: str
    result: str | None = None
    """For behaviour checks: what the runner's harness returned (JSON text), else ``None``."""

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    def summary(self) -> str:
        detail = self.last_error_line if self.status in {"syntax_error", "error", "memory", "killed"} else ""
        return f"{SUMMARIES[self.status]}" + (f"：{detail}" if detail else "")


class _Capped:
    """Text kept up to ``OUTPUT_LIMIT`` characters; the rest is counted, not stored."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = False

    def add(self, text: str) -> None:
        room = OUTPUT_LIMIT - self.kept
        if len(text) > room:
            text, self.dropped = text[: max(room, 0)], True
        if text:
            self.parts.append(text)
            self.kept += len(text)

    def text(self) -> str:
        return "".join(self.parts) + ("\n…（输出过长，已截断）" if self.dropped else "")


def _resident_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    process.wait()


class _Pool:
    """One loaded, idle worker per memory size, started ahead of the next run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: dict[int, subprocess.Popen[bytes]] = {}

    @staticmethod
    def _start(memory_mb: int) -> subprocess.Popen[bytes]:
        snapshot = sandbox_install.snapshot_path()
        if not snapshot.exists():
            sandbox_install.build_snapshot()
        # --liftoff-only: V8 compiles Pyodide's WebAssembly with its baseline compiler only. A run lasts a
        # fraction of a second, and the optimising tier compiled hot functions in background threads that
        # the kill at the end threw away: a start costs 18% less CPU (0.44 → 0.36 s), and a 200,000-item
        # quicksort took the same 1.38 s either way. --single-threaded: no helper threads for V8's compilers
        # and garbage collector either (the host's limits do not depend on them): 0.35 → 0.30 s of CPU per
        # start (10 starts each way), the quicksort 1.04 → 1.00 s; test_adversarial.py 33.2 → 28.6 s of CPU.
        v8_flags = (
            f"--wasm-max-mem-pages={memory_mb * 16}", f"--max-old-space-size={JS_HEAP_MB}", "--liftoff-only",
            "--single-threaded",
        )  # fmt: skip
        return subprocess.Popen(
            sandbox_install.deno_command("run", snapshot, v8_flags=v8_flags),
            cwd=sandbox_install.CACHE,
            env=sandbox_install.deno_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def take(self, memory_mb: int) -> subprocess.Popen[bytes]:
        with self._lock:
            worker = self._spare.pop(memory_mb, None)
            if worker is None or worker.poll() is not None:
                worker = self._start(memory_mb)
            self._spare[memory_mb] = self._start(memory_mb)
        return worker

    def close(self) -> None:
        with self._lock:
            for worker in self._spare.values():
                _kill(worker)
            self._spare.clear()


_POOL = _Pool()
atexit.register(_POOL.close)


class _Session:
    """One run's conversation with one worker: frames in, limits enforced, outcome decided."""

    def __init__(self, worker: subprocess.Popen[bytes], nonce: str, timeout: float, memory_mb: int) -> None:
        self.worker = worker
        self.nonce = nonce
        self.timeout = timeout
        self.rss_limit_mb = memory_mb + PROCESS_OVERHEAD_MB
        self.stdout = _Capped()
        self.stderr = _Capped()
        self.worker_stderr = _Capped()
        self.pending = b""
        self.raw_bytes = 0
        self.deadline: float | None = None
        self.done: dict[str, object] | None = None

    def _frame(self, line: bytes) -> None:
        try:
            frame = json.loads(line)
        except ValueError:
            return  # not ours: bytes the code wrote around the runner
        if not isinstance(frame, dict) or frame.get("n") != self.nonce:
            return
        kind = frame.get("k")
        if kind == "start":
            self.deadline = time.monotonic() + self.timeout
        elif kind in {"o", "e"} and isinstance(frame.get("d"), str):
            (self.stdout if kind == "o" else self.stderr).add(frame["d"])
        elif kind == "done":
            self.done = frame

    def _stdout_bytes(self, data: bytes) -> None:
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        if len(self.pending) > FRAME_LIMIT:
            self.pending = b""  # a line longer than any frame of ours: discard it
        for line in lines:
            if line and self.done is None:
                self._frame(line)

    def run(self) -> str | None:
        """Returns the status the host imposed (timeout, memory, output, killed), or None."""
        selector = selectors.DefaultSelector()
        for stream in (self.worker.stdout, self.worker.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ)
        startup_deadline = time.monotonic() + STARTUP_LIMIT + self.timeout
        try:
            while selector.get_map() and self.done is None:
                now = time.monotonic()
                if self.deadline is not None and now > self.deadline:
                    return "timeout"
                if self.deadline is None and now > startup_deadline:
                    self.worker_stderr.add("沙箱进程没有在时限内启动")
                    return "killed"
                if _resident_mb(self.worker.pid) > self.rss_limit_mb:
                    return "memory"
                for key, _ in selector.select(timeout=0.02):
                    data = os.read(key.fd, 65_536)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    self.raw_bytes += len(data)
                    if self.raw_bytes > RAW_OUTPUT_LIMIT:
                        return "output"
                    if key.fileobj is self.worker.stdout:
                        self._stdout_bytes(data)
                    else:
                        self.worker_stderr.add(data.decode("utf-8", "replace"))
            return None if self.done is not None else "killed"
        finally:
            selector.close()
            _kill(self.worker)


def _run(request: dict[str, object], timeout: float, memory_mb: int) -> RunResult:
    if timeout <= 0:
        raise ValueError("timeout 必须大于 0")
    memory_mb = max(int(memory_mb), MIN_MEMORY_MB)
    worker = _POOL.take(memory_mb)
    nonce = secrets.token_hex(16)
    assert worker.stdin is not None
    try:
        worker.stdin.write(json.dumps({**request, "nonce": nonce}).encode("utf-8"))
        worker.stdin.close()
    except BrokenPipeError:
        pass
    session = _Session(worker, nonce, timeout, memory_mb)
    imposed = session.run()
    stdout, stderr = session.stdout.text(), session.stderr.text()
    done = session.done
    if imposed is not None or done is None:
        status = imposed or "killed"
        if status == "killed":
            stderr = (stderr + "\n" + session.worker_stderr.text()).strip()
        return RunResult(status, None, stdout, stderr)
    traceback = done.get("traceback")
    if isinstance(traceback, str) and traceback:
        stderr += traceback[-OUTPUT_LIMIT:]
    status = done.get("status")
    returncode = done.get("returncode")
    result = done.get("result")
    return RunResult(
        status if isinstance(status, str) and status in SUMMARIES else "killed",
        returncode if isinstance(returncode, int) else None,
        stdout,
        stderr,
        result if isinstance(result, str) else None,
    )


def run_python(code: str, *, timeout: float = 5.0, memory_mb: int = 256) -> RunResult:
    """Run ``code`` as ``__main__`` in a fresh Pyodide interpreter with a wall-clock
    ``timeout`` (seconds, counted from when the code starts) and ``memory_mb`` of
    WebAssembly memory. Files it writes live in the interpreter's memory and vanish."""
    return _run({"code": code}, timeout, memory_mb)


def call_on_cases(
    code: str, function: str, cases: list[list[float]], *, timeout: float = 5.0, memory_mb: int = 256
) -> RunResult:
    """Load ``code`` as a module (its ``__main__`` block does not run) and call ``function``
    on a copy of each case; ``result`` holds the outputs as JSON, one entry per case."""
    return _run({"code": code, "call": {"name": function, "cases": cases}}, timeout, memory_mb)

