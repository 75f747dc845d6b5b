"""Running untrusted (e.g. model-generated) Python in a separate, limited process."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GUARD = Path(__file__).with_name("sandbox_guard.py")
OUTPUT_LIMIT = 20_000
SUMMARIES = {
    "ok": "正常结束",
    "syntax_error": "语法错误，没有运行",
    "error": "运行时抛出异常",
    "timeout": "超时，已强制终止",
    "memory": "内存超出上限，已终止",
    "killed": "被系统信号终止",
}


@dataclass(frozen=True)
class RunResult:
    status: str
    """One of ``ok``, ``syntax_error``, ``error``, ``timeout``, ``memory``, ``killed``."""
    returncode: int | None
    stdout: str
    stderr: str

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    def summary(self) -> str:
        detail = self.last_error_line if self.status in {"syntax_error", "error", "memory"} else ""
        return f"{SUMMARIES[self.status]}" + (f"：{detail}" if detail else "")


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


def run_python(
    code: str,
    *,
    timeout: float = 5.0,
    memory_mb: int = 256,
    files: dict[str, str] | None = None,
    entry: str = "main.py",
) -> RunResult:
    """Run ``code`` as ``main.py`` in a fresh temporary directory, in isolated mode
    (``python -I``), with no inherited environment (so no API keys), a wall-clock
    ``timeout``, CPU, memory, file-size and open-file limits, and the audit guard.
    ``files`` are written beside it first (e.g. a test harness as ``entry``)."""
    try:
        compile(code, "main.py", "exec")
    except SyntaxError as error:
        return RunResult("syntax_error", None, "", f"SyntaxError: {error.msg} (第 {error.lineno} 行)")
    with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir:
        (Path(workdir) / "main.py").write_text(code, encoding="utf-8")
        for name, text in (files or {}).items():
            (Path(workdir) / name).write_text(text, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-X", "utf8", str(GUARD), entry],
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
