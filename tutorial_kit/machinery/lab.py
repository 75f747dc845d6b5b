"""Start JupyterLab on the project the way a learner needs it, or point to the one already running.

The server root is the project root (so ``../images/`` and ``.env`` are reachable) and Lab
opens on ``notebooks/``. Lab settings come from ``tutorial_kit/machinery/lab_settings`` (the news
pop-up is off there), never from the learner's own settings folder.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

from .environment import PROJECT_ROOT

SETTINGS_DIR = Path(__file__).resolve().parent / "lab_settings"
# Shown in the file browser although they start with a dot; the tool folders stay out of sight.
HIDDEN_FROM_BROWSER = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.so", "*.dylib",
    ".git", ".venv", ".venv-server", ".cache", ".ruff_cache", ".pytest_cache", ".ipynb_checkpoints",
    "*.egg-info", "build", ".local-server.json", ".local-server.log",
]  # fmt: skip


def lab_arguments() -> list[str]:
    """Everything ``jupyter lab`` is started with, apart from port and token."""
    arguments = [
        "--ip=127.0.0.1",
        "--no-browser",
        f"--ServerApp.root_dir={PROJECT_ROOT}",
        "--LabApp.default_url=/lab/tree/notebooks",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}",
        "--LabApp.news_url=None",
        "--ServerApp.contents_manager_class=tutorial_kit.machinery.lab_contents.LessonContentsManager",
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
        with urllib.request.urlopen(request, timeout=2) as response:
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


def main(extra: list[str]) -> int:
    existing = running_server_url()
    if existing:
        print("JupyterLab 已经在运行（本项目），不再启动第二个。打开：")
        print(f"    {existing}")
        print("要停止它：在运行它的终端按 Ctrl+C。")
        return 0
    command = [sys.executable, "-m", "jupyterlab", *lab_arguments(), *extra]
    if os.name == "nt":
        import subprocess

        return subprocess.call(command)
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
