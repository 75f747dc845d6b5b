"""Create the project's virtual environment and install its pinned requirements.

Standard library only: this runs before anything is installed, from ``make`` and from
``python -m tutorial_kit`` on machines without make (Windows).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = PROJECT_ROOT / ".venv"
UV_VERSION = "0.13.8"
CONSTRAINTS = "constraints.txt"
# TUTORIAL_INSTALLER=pip forces pip (the benchmark compares both); uv is the default.
INSTALLER_VARIABLE = "TUTORIAL_INSTALLER"


@dataclass(frozen=True)
class Group:
    """One set of requirements, installed once and remembered by a stamp file in the venv."""

    name: str
    install_args: tuple[str, ...]
    inputs: tuple[str, ...]
    needs: tuple[str, ...] = ()
    then_run: tuple[str, ...] = ()  # modules run with the venv's Python after installing

    @property
    def stamp(self) -> Path:
        return VENV_DIR / f".{self.name}"

    def is_current(self) -> bool:
        if not self.stamp.exists():
            return False
        stamped = self.stamp.stat().st_mtime
        return all((PROJECT_ROOT / name).stat().st_mtime <= stamped for name in self.inputs)


GROUPS = {
    group.name: group
    for group in (
        Group(
            "runtime",
            ("-r", "requirements.txt", "-e", "."),
            ("requirements.txt", CONSTRAINTS, "pyproject.toml", "package-lock.json"),
            then_run=("tutorial_kit.sandbox_install",),
        ),
        Group("site", ("-r", "requirements-site.txt"), ("requirements-site.txt", CONSTRAINTS), needs=("runtime",)),
        Group(
            "test",
            ("-r", "requirements-test.txt"),
            ("requirements-test.txt", "requirements-site.txt", "requirements-browser.txt", CONSTRAINTS),
            needs=("runtime",),
        ),
    )
}


def venv_executable(name: str) -> Path:
    if os.name == "nt":
        return VENV_DIR / "Scripts" / f"{name}.exe"
    return VENV_DIR / "bin" / name


def venv_python() -> Path:
    return venv_executable("python")


def _run(command: list[str | Path]) -> None:
    subprocess.run([str(part) for part in command], cwd=PROJECT_ROOT, check=True)


def ensure_venv(base_python: str = sys.executable) -> Path:
    if not venv_python().exists():
        print(f"● 创建虚拟环境 {VENV_DIR.name}/", flush=True)
        _run([base_python, "-m", "venv", VENV_DIR])
    return venv_python()


def _uv_is_pinned(uv: Path) -> bool:
    if not uv.exists():
        return False
    result = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=False)
    return result.returncode == 0 and result.stdout.split()[1:2] == [UV_VERSION]


def installer_command() -> list[str | Path]:
    """uv when it is (or can be made) available in the venv, else pip: the command up to its package arguments."""
    python = venv_python()
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    if os.environ.get(INSTALLER_VARIABLE, "uv") == "pip":
        return pip
    uv = venv_executable("uv")
    if not _uv_is_pinned(uv):
        print(f"● 安装 uv {UV_VERSION}（比 pip 快得多）", flush=True)
        bootstrap = subprocess.run([str(part) for part in [*pip, f"uv=={UV_VERSION}"]], cwd=PROJECT_ROOT, check=False)
        if bootstrap.returncode != 0 or not _uv_is_pinned(uv):
            print("● 无法安装 uv，改用 pip（会慢一些）", flush=True)
            return pip
    return [uv, "pip", "install", "--python", python]


def ensure(group_name: str, base_python: str = sys.executable) -> None:
    """Install a group (and the groups it needs) unless its stamp is newer than its inputs."""
    group = GROUPS[group_name]
    for needed in group.needs:
        ensure(needed, base_python)
    if group.is_current():
        return
    ensure_venv(base_python)
    print(f"● 安装依赖：{group.name}（版本由 {CONSTRAINTS} 固定）", flush=True)
    _run([*installer_command(), "-c", CONSTRAINTS, *group.install_args])
    for module in group.then_run:
        _run([venv_python(), "-m", module])
    group.stamp.touch()


def ensure_env_file() -> None:
    env_file = PROJECT_ROOT / ".env"
    if not env_file.exists():
        shutil.copyfile(PROJECT_ROOT / ".env.example", env_file)
        print("已从 .env.example 创建 .env（没有密钥也能以回放模式运行全部笔记本）。", flush=True)
