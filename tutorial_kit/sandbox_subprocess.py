"""The teaching layer lesson 03 shows before the real sandbox: a plain subprocess with
limits and an audit guard. It stops accidents, not attackers (the lesson runs one real
escape from it); model-written code goes through ``tutorial_kit.sandbox.run_python``."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .sandbox import RunResult

GUARD = Path(__file__).with_name("sandbox_guard.py")
OUTPUT_LIMIT = 20_000


def _limits(memory_mb: int, cpu_seconds: int):
    def apply() -> None:
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (10 * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _clip(text: str) -> str:
    return text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT] + "\n…（输出过长，已截断）"


def run_in_subprocess(code: str, *, timeout: float = 5.0, memory_mb: int = 256) -> RunResult:
    """Run ``code`` as ``main.py`` in a fresh temporary directory, in isolated mode
    (``python -I``), with no inherited environment (so no API keys), a wall-clock
    ``timeout``, CPU, memory, file-size and open-file limits, and the audit guard."""
    try:
        compile(code, "main.py", "exec")
    except SyntaxError as error:
        return RunResult("syntax_error", None, "", f"SyntaxError: {error.msg} (第 {error.lineno} 行)")
    with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir:
        (Path(workdir) / "main.py").write_text(code, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-X", "utf8", str(GUARD), "main.py"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_limits(memory_mb, int(timeout) + 1),
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return RunResult("timeout", None, _clip(stdout), _clip(stderr))
    code_ = process.returncode
    if "MemoryError" in stderr:
        status = "memory"
    elif code_ == 0:
        status = "ok"
    elif code_ < 0:
        status = "timeout" if -code_ == signal.SIGXCPU else "killed"
    else:
        status = "error"
    return RunResult(status, code_, _clip(stdout), _clip(stderr))
