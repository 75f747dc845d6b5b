"""Start JupyterLab on the project the way a learner needs it, or point to the one already running.

The server root is the project root (so ``../images/`` and ``.env`` are reachable) and Lab
opens on ``notebooks/``. Lab settings come from ``tutorial_kit/machinery/lab_settings`` (the news
pop-up is off there), never from the learner's own settings folder.

The terminal shows one Chinese line with the address first; the server's own log goes to a file
(its path is said once). The learner's browser opens by itself where there is a screen to show
it on; in CI, over SSH or on a Linux machine with no display the address is only printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

from .environment import PROJECT_ROOT
from .proxies import DIRECT

SETTINGS_DIR = Path(__file__).resolve().parent / "lab_settings"
# Shown in the file browser although they start with a dot; the tool folders stay out of sight.
HIDDEN_FROM_BROWSER = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.so", "*.dylib",
    ".git", ".venv", ".venv-server", ".cache", ".ruff_cache", ".pytest_cache", ".ipynb_checkpoints",
    "*.egg-info", "build", ".local-server.json", ".local-server.log",
]  # fmt: skip


LOG_PATH = PROJECT_ROOT / ".cache" / "jupyterlab.log"
START_UP = "tutorial_kit.machinery.start_up"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
SSH_VARIABLES = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")


def _is_set(value: str | None) -> bool:
    return bool(value) and value.strip().lower() not in {"0", "false", "no"}


def can_open_browser(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether a browser opened here would appear in front of the learner: never in CI or over
    SSH; on Linux and the BSDs only with an X11 or Wayland display (a console browser is no help)."""
    if _is_set(env.get("CI")) or any(env.get(name) for name in SSH_VARIABLES):
        return False
    if platform.startswith(("win", "cygwin", "darwin")):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def log_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the server's own log goes (``TUTORIAL_LAB_LOG`` moves it, as the tests do)."""
    return Path(env["TUTORIAL_LAB_LOG"]) if env.get("TUTORIAL_LAB_LOG") else LOG_PATH


def lab_arguments(open_browser: bool = False) -> list[str]:
    """Everything ``jupyter lab`` is started with, apart from port and token."""
    arguments = [
        "--ip=127.0.0.1",
        f"--ServerApp.open_browser={open_browser}",
        f"--ServerApp.root_dir={PROJECT_ROOT}",
        "--LabApp.default_url=/lab/tree/notebooks",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}",
        "--LabApp.news_url=None",
        "--ServerApp.contents_manager_class=tutorial_kit.machinery.lab_contents.LessonContentsManager",
        # kernels on Unix sockets only this user can open, not loopback TCP (kernel_transport.py)
        "--AsyncMappingKernelManager.kernel_manager_class=tutorial_kit.machinery.lab_kernels.LabKernelManager",
        "--ContentsManager.allow_hidden=True",
        f"--ContentsManager.hide_globs={json.dumps(HIDDEN_FROM_BROWSER)}",
    ]
    # JupyterLab refuses to run as root (containers, some workshop machines) unless told.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        arguments.append("--allow-root")
    return arguments


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(f"{url}api/status", headers={"Authorization": f"token {token}"})
    try:
        # directly: through a proxy it never answered, and make lab said after two minutes that it had failed
        with DIRECT.open(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def running_server_url() -> str | None:
    """The URL (with token) of a live Jupyter server already serving this project, if any."""
    runtime = Path(jupyter_runtime_dir())
    for info_file in sorted(runtime.glob("jpserver-*.json")):
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        root = info.get("root_dir")
        if not root or Path(root).resolve() != PROJECT_ROOT:
            continue
        url, token = info.get("url", ""), info.get("token", "")
        if url and _answers(url, token):
            return f"{url}lab/tree/notebooks" + (f"?token={token}" if token else "")
    return None


def _server_url(pid: int) -> str | None:
    """The address the server with this process id wrote into its runtime file, once it answers."""
    info_file = Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json"
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url, token = info.get("url", ""), info.get("token", "")
    if not url or not _answers(url, token):
        return None
    return f"{url}lab/tree/notebooks" + (f"?token={token}" if token else "")


def _shown(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    return next((line for line in reversed(lines) if line), "")[:200]


def _wait_for_start(process: subprocess.Popen[bytes]) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        url = _server_url(process.pid)
        if url:
            return url
        time.sleep(0.3)
    return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl+C in a terminal reaches the server too (same process group); when only this process
    got it, SIGTERM asks the server to stop the same clean way (kernels shut down)."""
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Stopped(Exception):
    """SIGTERM or SIGHUP reached the launcher (a closed terminal, a test, a process manager)."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _finish_stopping() -> None:
    """Once the launcher is stopping, another SIGTERM, SIGHUP or Ctrl+C (a process manager, a second kill, an
    impatient key) no longer interrupts it: the server's shutdown is bounded (STOP_TIMEOUT, then kill), and
    interrupting the wait for it printed a traceback instead of finishing."""
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def main(extra: list[str]) -> int:
    existing = running_server_url()
    if existing:
        print(f"JupyterLab 已在运行（本项目），在浏览器中打开：{existing}")
        print("没有再启动第二个；要停止它，在运行它的终端按 Ctrl+C。")
        return 0
    open_browser = "--no-browser" not in extra and can_open_browser()
    extra = [argument for argument in extra if argument != "--no-browser"]
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    # python -m jupyterlab, without jsonschema's IRI grammar (0.8 s of CPU at every start: start_up.py)
    command = [sys.executable, "-m", START_UP, "jupyterlab", *lab_arguments(open_browser), *extra]
    for name in ("SIGTERM", "SIGHUP"):  # the server never outlives its launcher
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_stopped)
    # stdin is not a terminal: Ctrl+C stops the server at once instead of asking "y/[n]" inside the log.
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        url = _wait_for_start(process)
        if url is None:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=STOP_TIMEOUT)
            print(
                f"JupyterLab 没能启动（退出码 {process.returncode}）：{_last_line(log)}（完整日志：{_shown(log)}）",
                file=sys.stderr,
            )
            return process.returncode or 1
        opened = "，已在浏览器中打开" if open_browser else "，在浏览器中打开"
        print(f"JupyterLab 已启动{opened}：{url}", flush=True)
        print(f"服务器日志写在 {_shown(log)}；停止：在这个终端按 Ctrl+C。", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        _finish_stopping()
        _stop(process)
        print("JupyterLab 已停止。")
        return 0
    except _Stopped:
        return 0
    finally:
        _finish_stopping()
        if process.poll() is None:
            process.terminate()  # SIGTERM: the server shuts its kernels down and exits
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
