"""Median wall time of a trivial snippet in tutorial_kit.sandbox.run_python.

Two patterns: runs spaced out (as in a notebook: the pool's next worker has finished
loading when the run starts) and runs back to back (each waits for a worker to load).
Usage: python scripts/bench_sandbox.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from tutorial_kit.sandbox import run_python

SNIPPET = "print(sum(range(10)))"


def timed() -> float:
    started = time.perf_counter()
    result = run_python(SNIPPET)
    elapsed = time.perf_counter() - started
    if (result.status, result.stdout) != ("ok", "45\n"):
        sys.exit(f"沙箱结果不对：{result.status} {result.summary()}")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    first = timed()  # no worker was waiting yet
    spaced = []
    for _ in range(runs):
        time.sleep(3)  # let the next worker finish loading, as between notebook cells
        spaced.append(timed())
    back_to_back = [timed() for _ in range(runs)]
    print(f"CPU 核数 {os.cpu_count()}，负载 {os.getloadavg()[0]:.2f}，每组 {runs} 次")
    print(f"首次运行（现场启动工作进程）：{first:.3f} s")
    print(f"间隔运行（工作进程已就绪）中位数：{statistics.median(spaced):.3f} s（最大 {max(spaced):.3f} s）")
    median, worst = statistics.median(back_to_back), max(back_to_back)
    print(f"连续运行（每次等待新进程加载）中位数：{median:.3f} s（最大 {worst:.3f} s）")


if __name__ == "__main__":
    main()
