"""Set-up speed: pip against uv, cold and warm package caches, side by side in one run.

For each installer, a cold run (empty caches) then a warm run (the caches the cold run
filled), each from a fresh clone of this repository's HEAD:

- fresh clone -> ``make lab`` until JupyterLab answers HTTP;
- fresh clone -> ``make test``'s installation (``make .venv/.test``) and one quick test file.
  The full suite is not repeated four times: it takes minutes and does not depend on the installer.

Usage: python scripts/bench_setup.py [--only lab|test] [--installers uv,pip]
Results: a table on stdout and .cache/bench_setup.json. Needs network access to the package registries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".cache" / "bench_setup.json"
LAB_TIMEOUT = 900
QUICK_TEST = "tests/test_codeblocks.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clone(workdir: Path) -> Path:
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    return clone


def _environment(installer: str, caches: Path, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "LLM_", "JUPYTER_"))}
    env.update(
        TUTORIAL_INSTALLER=installer,
        PIP_CACHE_DIR=str(caches / "pip"),
        UV_CACHE_DIR=str(caches / "uv"),
        npm_config_cache=str(caches / "npm"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        JUPYTER_CONFIG_DIR=str(workdir / "config"),
    )
    return env


def time_lab(installer: str, caches: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as temp:
        workdir = Path(temp)
        started = time.monotonic()
        clone = _clone(workdir)
        port, token = _free_port(), "bench"
        env = _environment(installer, caches, workdir) | {"JUPYTER_PORT": str(port), "JUPYTER_TOKEN": token}
        log = (workdir / "lab.log").open("wb")
        make = subprocess.Popen(["make", "lab"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            while time.monotonic() - started < LAB_TIMEOUT:
                if make.poll() is not None:
                    tail = (workdir / "lab.log").read_text()[-2000:]
                    raise RuntimeError(f"make lab exited {make.returncode}: {tail}")
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
                    )
                    with urllib.request.urlopen(request, timeout=2):
                        return time.monotonic() - started
                except OSError:
                    time.sleep(0.2)
            raise RuntimeError("JupyterLab did not answer in time")
        finally:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=60)


def time_test_setup(installer: str, caches: Path) -> tuple[float, float]:
    """Seconds to install make test's environment, and to then run one quick test file."""
    with tempfile.TemporaryDirectory(prefix="bench-test-") as temp:
        workdir = Path(temp)
        started = time.monotonic()
        clone = _clone(workdir)
        env = _environment(installer, caches, workdir)
        subprocess.run(["make", ".venv/.test"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
        installed = time.monotonic() - started
        python = clone / ".venv" / "bin" / "python"
        subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", QUICK_TEST], cwd=clone,
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        return installed, time.monotonic() - started - installed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["lab", "test"])
    parser.add_argument("--installers", default="pip,uv")
    options = parser.parse_args(argv)
    rows = []
    for installer in options.installers.split(","):
        caches = Path(tempfile.mkdtemp(prefix=f"bench-cache-{installer}-"))
        try:
            for cache in ("cold", "warm"):
                row: dict[str, object] = {"installer": installer, "cache": cache}
                if options.only != "test":
                    row["clone_to_lab_s"] = round(time_lab(installer, caches), 1)
                if options.only != "lab":
                    if cache == "cold" and options.only != "test":
                        # the lab run filled the caches with the runtime set: start the test set cold too
                        shutil.rmtree(caches)
                        caches.mkdir()
                    installed, quick = time_test_setup(installer, caches)
                    row["clone_to_test_env_s"] = round(installed, 1)
                    row["quick_test_s"] = round(quick, 1)
                rows.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
        finally:
            shutil.rmtree(caches, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": os.cpu_count(), "rows": rows}, indent=1), encoding="utf-8")
    print("\n| installer | cache | clone -> Lab answers (s) | clone -> make test env (s) | + quick test (s) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['installer']} | {row['cache']} | {row.get('clone_to_lab_s', '-')} | "
            f"{row.get('clone_to_test_env_s', '-')} | {row.get('quick_test_s', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
