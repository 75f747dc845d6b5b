"""Installing and locating the sandbox's runtime: Deno (from PyPI) and Pyodide (from npm).

``python -m tutorial_kit.sandbox_install`` (run by make) installs the pinned Pyodide from
package-lock.json into ``.cache/pyodide`` and builds the memory snapshot the sandbox starts
from; after that the sandbox needs no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from deno import find_deno_bin

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "pyodide"
PYODIDE_DIR = CACHE / "node_modules" / "pyodide"
RUNNER = Path(__file__).with_name("sandbox_runner") / "runner.mjs"
INTERPRETER = RUNNER.with_name("interpreter.mjs")
"""The worker runner.mjs starts for the code's own realm (readable: its source is public)."""
NOT_INSTALLED = "沙箱运行环境（Pyodide）还没有安装：请在仓库根目录运行 make lab 或 make test（需要 npm）。"


class SandboxNotInstalled(RuntimeError):
    pass


def pyodide_version() -> str:
    try:
        return str(json.loads((PYODIDE_DIR / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError) as error:
        raise SandboxNotInstalled(NOT_INSTALLED) from error


def snapshot_path() -> Path:
    return CACHE / f"snapshot-{pyodide_version()}.bin"


def deno_environment() -> dict[str, str]:
    """Deno's own cache lives beside Pyodide; nothing else from the parent (no keys) is passed."""
    return {"DENO_DIR": str(CACHE / "deno"), "NO_COLOR": "1", "DENO_NO_UPDATE_CHECK": "1", "PATH": os.defpath}


def deno_command(mode: str, snapshot: Path, *, v8_flags: tuple[str, ...] = (), write: Path | None = None) -> list[str]:
    """The Deno command line: read access to Pyodide, its snapshot and the worker's source,
    nothing else (``write`` only when building the snapshot)."""
    return [
        find_deno_bin(),
        "run",
        "--quiet",
        "--no-prompt",
        "--no-lock",
        "--no-remote",
        f"--allow-read={PYODIDE_DIR},{snapshot},{INTERPRETER}",
        *([f"--allow-write={write}"] if write else []),
        *([f"--v8-flags={','.join(v8_flags)}"] if v8_flags else []),
        str(RUNNER),
        mode,
        str(PYODIDE_DIR),
        str(snapshot),
    ]


def _install_pyodide() -> None:
    lock = ROOT / "package-lock.json"
    installed_lock = CACHE / "package-lock.json"
    if PYODIDE_DIR.is_dir() and installed_lock.exists() and installed_lock.read_bytes() == lock.read_bytes():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("找不到 npm：沙箱需要用 npm 安装 Pyodide。请先安装 Node.js（自带 npm），再运行 make。")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(ROOT / name, CACHE / name)
    npm_ci = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    subprocess.run(npm_ci, cwd=CACHE, check=True)


def build_snapshot() -> Path:
    """Load Pyodide once (slow) and save its memory, so every run starts from it (fast)."""
    target = snapshot_path()
    if target.exists():
        return target
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    command = deno_command("snapshot", partial, write=partial)
    try:
        subprocess.run(command, cwd=CACHE, env=deno_environment(), stdin=subprocess.DEVNULL, check=True, timeout=300)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def install() -> None:
    _install_pyodide()
    build_snapshot()


if __name__ == "__main__":
    install()
    print(f"沙箱就绪：Pyodide {pyodide_version()}，快照 {snapshot_path().relative_to(ROOT)}")
