"""``python -m tutorial_kit lab|test|site``: what make lab / make test / make site do, for machines without make.

Runs with any Python 3.10+, before anything is installed: it imports only the standard
library and ``environment``, then hands over to the project's virtual environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from .machinery import kernel_forks
from .machinery.environment import GROUPS, PROJECT_ROOT, ensure, ensure_env_file, venv_executable, venv_python

REPLAY_ENVIRONMENT = {"LLM_MODE": "replay", "LLM_PROVIDER": "", "LLM_MODEL": ""}
PYTEST_ARGUMENTS = [
    # one file per worker, longest first (tests/conftest.py orders them; xdist keeps that order). Three workers
    # on 2 cores: much of the suite waits (Lab and Chromium between steps, kernels starting, the time limits
    # the sandbox tests prove), and a third worker fills those waits. Measured on 2 cores, same 568 tests:
    # -n 2 153 s, -n 3 138 s, -n 4 145 s (scripts/bench_test.py --workers compares them in one run).
    "-m", "pytest", "-n", "3", "--dist", "loadfile", "--no-loadscope-reorder",
    "--nbval", "--nbval-kernel-name", "python3",
    # a kernel start once took over nbval's 60 s default while the other worker drove Chromium on 2 cores
    "--nbval-kernel-startup-timeout", "300",
    "-p", "no:cacheprovider", "-rs", "tests", "notebooks",
]  # fmt: skip


def _call(command: list[str], env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(part) for part in command], cwd=PROJECT_ROOT, env=env)


def lab(extra: list[str]) -> int:
    ensure("runtime")
    ensure_env_file()
    return _call([str(venv_python()), "-m", "tutorial_kit.machinery.lab", *extra])


def test_environment() -> dict[str, str]:
    """Replay mode with no keys, and Python's bytecode cached in .cache/pycache (git-ignored). Where
    PYTHONDONTWRITEBYTECODE is set (many container images set it) nothing is cached otherwise, and every
    kernel the suite starts compiles IPython, openai and the kit from source again. Kernels that the kit's
    managers start are forked from a process that has imported ipykernel and the SDK (kernel_forks.py)."""
    env = {**os.environ, **REPLAY_ENVIRONMENT, kernel_forks.ENABLE_ENV: "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(PROJECT_ROOT / ".cache" / "pycache"))
    return env


def test(extra: list[str]) -> int:
    """ruff, then pytest in replay mode with no keys; without network where the machine allows it."""
    ensure("test")
    status = _call([str(venv_executable("ruff")), "check", "."])
    if status != 0:
        return status
    env = test_environment()
    pytest = [str(venv_python()), *PYTEST_ARGUMENTS, *extra]
    offline = PROJECT_ROOT / "scripts" / "offline.sh"
    if os.name != "nt" and shutil.which("bash"):
        pytest = ["bash", str(offline), *pytest]
    try:
        return _call(pytest, env)
    finally:
        kernel_forks.stop_servers(str(venv_python()))  # they would otherwise linger a minute, idle


def site(extra: list[str]) -> int:
    ensure("site")
    return _call([str(venv_python()), "-m", "tutorial_kit.machinery.site_build", *extra])


def install(extra: list[str]) -> int:
    for group in extra or ["runtime"]:
        if group not in GROUPS:
            print(f"未知的依赖组 {group!r}（可用：{', '.join(GROUPS)}）", file=sys.stderr)
            return 2
        ensure(group)
    return 0


COMMANDS = {"lab": lab, "test": test, "site": site, "install": install}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial_kit",
        description="lab：打开 JupyterLab；test：全部检查；site：构建网页版；install：只安装依赖。",
    )
    parser.add_argument("command", choices=COMMANDS)
    parsed, extra = parser.parse_known_args(argv)
    try:
        return COMMANDS[parsed.command](extra)
    except subprocess.CalledProcessError as error:
        print(f"安装失败（命令退出码 {error.returncode}）；请检查网络或包镜像设置（见 README）。", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
