"""Wall time of the replay suite and of each notebook under nbval (a measurement, not a test).

Usage: make bench   (or .venv/bin/python scripts/benchmark.py)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, LLM_MODE="replay", LLM_PROVIDER="", LLM_MODEL="")
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-kernel-name", "python3"]


def timed(args: list[str]) -> tuple[float, float, bool]:
    """Wall seconds of the command, the seconds pytest reports for the session, success."""
    started = time.perf_counter()
    result = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    reported = re.search(r" in ([0-9.]+)s", result.stdout.strip().splitlines()[-1])
    return wall, float(reported.group(1)) if reported else float("nan"), result.returncode == 0


def main() -> int:
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(f"{'':36} {'wall s':>7} {'nbval s':>8}  result")
    for path in notebooks:
        wall, session, ok = timed([*PYTEST, str(path.relative_to(ROOT))])
        print(f"{path.stem:36} {wall:7.2f} {session:8.2f}  {'ok' if ok else 'FAILED'}")
    wall, session, ok = timed([*PYTEST, "-n", "2", "--dist", "loadfile", "tests", "notebooks"])
    print(f"{'whole suite (-n 2, like make test)':36} {wall:7.2f} {session:8.2f}  {'ok' if ok else 'FAILED'}")
    print(f"cores: {os.cpu_count()}. wall = the whole command; nbval s = pytest's own session time")
    print("(kernel start and every cell of the notebook, without interpreter and plugin start-up).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
