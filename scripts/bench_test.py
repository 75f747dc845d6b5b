"""How long ``make test`` takes, and how much of a replayed lesson is the lesson (a measurement, not a test).

Usage: .venv/bin/python scripts/bench_test.py [--no-suite] [--repeat N] [--cells SECONDS] [--lessons 03 13 ...]
       [--workers 2 3 4]

In one run, side by side, with the load average printed beside every phase:
1. each lesson replayed in a fresh python3 kernel, as nbval does (one kernel per lesson, every cell run even
   after an error), next to an empty notebook in its own fresh kernel: kernel start, first cell
   (``start_session``: imports, manifest, cassette), the other cells;
2. a warm ``make test`` (``python -m tutorial_kit test`` without the install check): ruff, then pytest with
   the same arguments, wall seconds, pytest's summary line and the slowest tests.

The ratio replay / empty is what a lesson costs beyond a kernel's start; replay / sdk, beyond a kernel that
has also imported the SDK every lesson imports first (the part of a replay that is not the lesson's own
subject). Lessons that teach a real wait (the sandbox's time limit in 03, the timeouts and back-off in 13)
are summed separately: their waits are the lesson. ``--cells 0.5`` lists every cell slower than half a second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from tutorial_kit.__main__ import PYTEST_ARGUMENTS, REPLAY_ENVIRONMENT, test_environment
from tutorial_kit.machinery import kernel_forks
from tutorial_kit.machinery.kernel_transport import PrivateKernelManager

ROOT = Path(__file__).resolve().parent.parent
TAUGHT_WAITS = {
    "03_generate_and_validate_code": "沙箱：Deno/Pyodide 启动、死循环与刷屏的时限",
    "13_errors_retries_and_cost": "超时与退避（真实等待）",
}
CELL_TIMEOUT = 600


@dataclass
class Run:
    """One notebook in one fresh kernel."""

    start: float = 0.0
    first: float = 0.0
    rest: float = 0.0
    errors: int = 0
    stored_errors: int = 0
    cpu: float = 0.0
    """CPU seconds of the kernel and the processes it waited for (user + system): less swayed by load than wall."""
    slow_cells: list[tuple[int, float, str]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.start + self.first + self.rest


def load_and_speed() -> str:
    """The load, and how fast this machine is right now: on one 2-core VM the same pure-Python loop took up to
    half as long again from one minute to the next, and the same suite 123 to 168 s within two hours. Figures
    from different moments compare only with this beside them."""
    one, five, fifteen = os.getloadavg()
    began = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}, 10M-step loop {time.perf_counter() - began:.2f} s"


def run_cell(client: object, source: str, printed: list[str] | None = None) -> int:
    """Execute one cell, wait for idle; the number of error outputs it produced (what it printed: ``printed``)."""
    message_id = client.execute(source, store_history=True, allow_stdin=False)  # type: ignore[attr-defined]
    errors = 0
    while True:
        message = client.get_iopub_msg(timeout=CELL_TIMEOUT)  # type: ignore[attr-defined]
        if message["parent_header"].get("msg_id") != message_id:
            continue
        kind = message["msg_type"]
        if kind == "error":
            errors += 1
        elif kind == "stream" and printed is not None:
            printed.append(message["content"]["text"])
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            break
    client.get_shell_msg(timeout=CELL_TIMEOUT)  # type: ignore[attr-defined]
    return errors


def kernel_cpu(client: object, relay_pid: int) -> float:
    """The kernel's CPU (and, for a forked one, its relay's, the process the manager started)."""
    printed: list[str] = []
    run_cell(client, CPU_PROBE, printed)
    pid, parent, seconds = "".join(printed).split()
    if int(pid) == relay_pid:
        return float(seconds)
    servers.add(int(parent))
    times = psutil.Process(relay_pid).cpu_times()
    return float(seconds) + times.user + times.system


def uncached_environment() -> dict[str, str]:
    """How make test ran kernels on this machine before it cached bytecode (--env uncached): replay mode with
    PYTHONDONTWRITEBYTECODE=1 and nothing compiled (an empty PYTHONPYCACHEPREFIX hides any __pycache__)."""
    empty = Path(tempfile.gettempdir()) / "bench-test-no-bytecode"
    empty.mkdir(exist_ok=True)
    return {**os.environ, **REPLAY_ENVIRONMENT, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty)}


KERNEL_ENVIRONMENT = {"test": test_environment, "uncached": uncached_environment}
chosen_environment = test_environment
forked_kernels = True
"""As make test starts nbval's kernels: forked from kernel_forks.py's server (``--kernels usual``: as make lab
starts them)."""
servers: set[int] = set()
"""Fork servers the forked kernels came from: their one-off start-up is reported apart from the lessons."""
CPU_PROBE = (
    "import os as _o, resource as _r\n"
    "_s, _c = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN)\n"
    "print(_o.getpid(), _o.getppid(), _s.ru_utime + _s.ru_stime + _c.ru_utime + _c.ru_stime)"
)
"""Run after the timed cells: the kernel's CPU and its reaped children's. A forked kernel counts from its fork."""


SDK_FLOOR = ["from openai import OpenAI"]
"""The one import every lesson's first cell makes before the kit: the SDK the lessons teach (0.4-0.5 s of CPU,
openai.types building pydantic models). An empty notebook plus this is the floor no replay can go under."""


def run_notebook(path: Path | None, slow: float, sources: list[str] | None = None) -> Run:
    """A fresh kernel in the notebook folder (as nbval starts one), then every code cell in order
    (``sources`` instead of a notebook: those cells)."""
    if sources is not None:
        stored_errors = 0
    elif path is not None:
        notebook = nbformat.read(path, as_version=4)
        sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        stored = [output for cell in notebook.cells for output in cell.get("outputs", [])]
        stored_errors = sum(output.get("output_type") == "error" for output in stored)
    else:
        sources, stored_errors = ["pass"], 0
    run = Run(stored_errors=stored_errors)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(chosen_environment())  # by default what make test gives nbval's kernels
    if not forked_kernels:
        os.environ.pop(kernel_forks.ENABLE_ENV, None)
    began = time.perf_counter()
    manager = PrivateKernelManager(kernel_name="python3")  # forks only with the switch, as in make test
    manager.start_kernel(cwd=str(ROOT / "notebooks"), stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=300)
    run.start = time.perf_counter() - began
    try:
        for index, source in enumerate(sources):
            began = time.perf_counter()
            run.errors += run_cell(client, source)
            took = time.perf_counter() - began
            if index == 0:
                run.first = took
            else:
                run.rest += took
            if slow and took >= slow:
                first_line = next((line for line in source.splitlines() if line.strip()), "")
                run.slow_cells.append((index, took, first_line[:70]))
        run.cpu = kernel_cpu(client, manager.provisioner.pid)  # type: ignore[union-attr]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        os.environ.clear()
        os.environ.update(saved)
    return run


def lessons(chosen: list[str]) -> list[Path]:
    every = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not chosen:
        return every
    return [path for path in every if any(path.stem == name or path.stem.startswith(f"{name}_") for name in chosen)]


def bench_lessons(paths: list[Path], repeat: int, slow: float) -> None:
    print(f"\n== replay: one fresh kernel per notebook, lesson and empty notebook side by side ({load_and_speed()})")
    print("   empty: a notebook with one cell, `pass`; sdk: one cell, `from openai import OpenAI` (SDK_FLOOR)")
    header = (
        f"{'lesson':30} {'start':>6} {'cell 1':>6} {'rest':>6} {'replay':>7} {'empty':>6} {'ratio':>6}"
        f" {'sdk':>5} {'ratio':>5} | {'cpu':>5} {'empty':>5} {'ratio':>5} {'sdk':>5} {'ratio':>5} | err/stored"
    )
    print(header)
    plain: list[dict[str, Run]] = []
    waits: list[dict[str, Run]] = []
    slow_cells: list[str] = []
    run_notebook(None, 0, None)  # not counted: the first forked kernel waits for the fork server's imports
    for number, path in enumerate(paths):
        kinds = {"replay": (path, slow, None), "sdk": (None, 0, SDK_FLOOR), "empty": (None, 0, None)}
        runs: dict[str, list[Run]] = {kind: [] for kind in kinds}
        for attempt in range(repeat):
            order = list(kinds) if (number + attempt) % 2 == 0 else list(reversed(kinds))
            for kind in order:  # alternate which goes first, so a change in load falls on all three
                runs[kind].append(run_notebook(*kinds[kind]))
        best = {kind: min(measured, key=lambda run: run.total) for kind, measured in runs.items()}
        (waits if path.stem in TAUGHT_WAITS else plain).append(best)
        replay, empty, sdk = best["replay"], best["empty"], best["sdk"]
        mark = " *" if path.stem in TAUGHT_WAITS else ""
        print(
            f"{path.stem[:30]:30} {replay.start:6.2f} {replay.first:6.2f} {replay.rest:6.2f} {replay.total:7.2f} "
            f"{empty.total:6.2f} {replay.total / empty.total:6.2f} {sdk.total:5.2f} {replay.total / sdk.total:5.2f} | "
            f"{replay.cpu:5.2f} {empty.cpu:5.2f} {replay.cpu / empty.cpu:5.2f} {sdk.cpu:5.2f} "
            f"{replay.cpu / sdk.cpu:5.2f} | {replay.errors}/{replay.stored_errors}{mark}",
            flush=True,
        )
        slow_cells += [f"  {path.stem[:2]} cell {i:>2} {took:5.2f} s  {line}" for i, took, line in replay.slow_cells]

    def summary(label: str, rows: list[dict[str, Run]]) -> None:
        if not rows:
            return
        wall = {kind: sum(row[kind].total for row in rows) for kind in rows[0]}
        cpu = {kind: sum(row[kind].cpu for row in rows) for kind in rows[0]}
        median = statistics.median(row["replay"].total / row["empty"].total for row in rows)
        print(f"{label:31} wall: replay {wall['replay']:6.1f} s, empty {wall['empty']:5.1f} s, ratio "
              f"{wall['replay'] / wall['empty']:4.2f} (median {median:4.2f}); cpu: {cpu['replay']:5.1f} s / "
              f"{cpu['empty']:5.1f} s = {cpu['replay'] / cpu['empty']:4.2f} ({len(rows)} lessons)")  # fmt: skip
        print(f"{'':31} against the sdk floor: wall {wall['sdk']:5.1f} s, ratio {wall['replay'] / wall['sdk']:4.2f}; "
              f"cpu {cpu['sdk']:5.1f} s, ratio {cpu['replay'] / cpu['sdk']:4.2f}")  # fmt: skip

    print(f"-- ({load_and_speed()})")
    for pid in sorted(servers):
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            print(f"fork server {pid} (its imports, once; not in the rows): {times.user + times.system:.2f} s CPU")
    summary("without a taught wait", plain)
    summary("with a taught wait (*)", waits)
    summary("all lessons", plain + waits)
    for stem, what in TAUGHT_WAITS.items():
        print(f"  * {stem[:2]}: {what}")
    if slow_cells:
        print(f"cells slower than {slow} s (replay):")
        print("\n".join(slow_cells))


def with_workers(arguments: list[str], workers: int | None) -> list[str]:
    """make test's pytest arguments, with another number of xdist workers when asked."""
    if workers is None:
        return list(arguments)
    at = arguments.index("-n")
    return [*arguments[: at + 1], str(workers), *arguments[at + 2 :]]


class CpuGroup:
    """A fresh cgroup for the suite, where the machine lets this user make one (root, cgroup v1's cpuacct or
    v2): it counts the CPU of every process the suite starts, Chromium's too. Chromium's processes are not
    reaped by pytest, so getrusage's children total misses them."""

    def __init__(self) -> None:
        self.path: Path | None = None
        for root, usage in (("/sys/fs/cgroup/cpuacct", "cpuacct.usage"), ("/sys/fs/cgroup", "cpu.stat")):
            candidate = Path(root) / f"bench-test-{os.getpid()}"
            if (Path(root) / usage).exists() or (Path(root) / "cgroup.controllers").exists():
                try:
                    candidate.mkdir(exist_ok=True)
                except OSError:
                    continue
                if (candidate / usage).exists():
                    self.path, self.usage = candidate, usage
                    return

    def wrap(self, command: list[str]) -> list[str]:
        if self.path is None:
            return command
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh", *command]

    def seconds(self) -> float | None:
        if self.path is None:
            return None
        text = (self.path / self.usage).read_text()
        if self.usage == "cpuacct.usage":
            return int(text) / 1e9
        return int(text.split("usage_usec")[1].split()[0]) / 1e6

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.rmdir()


def bench_suite(durations: int, workers: int | None = None) -> tuple[float, float, str]:
    """What ``python -m tutorial_kit test`` runs after installing: ruff, then pytest (offline where it can be).
    Returns wall seconds, CPU seconds and pytest's summary line."""
    arguments = with_workers(PYTEST_ARGUMENTS, workers)
    print(f"\n== warm make test: ruff, then pytest {' '.join(arguments[1:])} ({load_and_speed()})", flush=True)
    began = time.perf_counter()
    ruff = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "."], cwd=ROOT, capture_output=True)
    ruff_wall = time.perf_counter() - began
    pytest = ["bash", str(ROOT / "scripts" / "offline.sh"), sys.executable, *arguments, "--durations=0", "-rfEs"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    group = CpuGroup()
    began = time.perf_counter()
    result = subprocess.run(
        group.wrap(pytest), cwd=ROOT, env=test_environment(), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )  # fmt: skip
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    every = group.seconds()
    group.remove()
    cpu = every if every is not None else reaped
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)), "?")
    print(f"ruff {ruff_wall:.1f} s (exit {ruff.returncode}); pytest {wall:.1f} s (exit {result.returncode}); "
          f"make test = {ruff_wall + wall:.1f} s on {os.cpu_count()} cores ({load_and_speed()})")  # fmt: skip
    if every is not None:
        print(f"CPU time of every process of the suite (a cgroup: kernels, Lab, Deno, Chromium): {every:.1f} s; "
              f"of those pytest reaped (getrusage, misses Chromium): {reaped:.1f} s")  # fmt: skip
    else:
        print(f"CPU time of the processes pytest reaped (getrusage; misses Chromium; no cgroup here): {reaped:.1f} s")
    print(f"pytest: {summary.strip('= ')}")
    timings = [
        (float(found[1]), found[2], found[3])
        for found in (re.match(r"^([0-9.]+)s (setup|call|teardown) +(\S+)", line) for line in lines)
        if found
    ]
    per_file: dict[str, float] = {}
    for seconds, _phase, test in timings:
        name = test.split("::")[0]
        per_file[name] = per_file.get(name, 0.0) + seconds
    if durations:
        print(f"slowest {durations} (setup, call or teardown):")
        for seconds, phase, test in sorted(timings, reverse=True)[:durations]:
            print(f"  {seconds:6.2f} s {phase:8} {test}")
        print("per file (a file runs on one worker: --dist loadfile):")
        for name, seconds in sorted(per_file.items(), key=lambda item: -item[1])[:durations]:
            print(f"  {seconds:6.1f} s  {name}")
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    if failed:
        print("\n".join(failed[:40]))
    return ruff_wall + wall, cpu, summary.strip("= ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="only the replay table")
    parser.add_argument("--suite-only", action="store_true", help="only the warm make test")
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook; the fastest counts")
    parser.add_argument("--cells", type=float, default=0.0, help="list replayed cells slower than this (s)")
    parser.add_argument("--durations", type=int, default=30, help="the slowest N tests of the suite (0: none)")
    parser.add_argument("--env", choices=KERNEL_ENVIRONMENT, default="test", help="kernels' environment")
    parser.add_argument(
        "--kernels", choices=("forked", "usual"), default="forked",
        help="forked: as make test starts them (kernel_forks.py); usual: as make lab does",
    )  # fmt: skip
    parser.add_argument("--lessons", nargs="*", default=[], help="only these lessons (number or stem)")
    parser.add_argument("--workers", type=int, nargs="*", default=[], help="run the suite once per worker count")
    args = parser.parse_args()
    global chosen_environment, forked_kernels
    chosen_environment = KERNEL_ENVIRONMENT[args.env]
    forked_kernels = args.kernels == "forked" and kernel_forks.available()
    print(f"bench_test: {os.cpu_count()} cores, {load_and_speed()}, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
          f"kernels' environment: {args.env}, kernels: {'forked' if forked_kernels else 'usual'}")  # fmt: skip
    if not args.suite_only:
        bench_lessons(lessons(args.lessons), max(1, args.repeat), args.cells)
    if not args.no_suite:
        runs = [(workers, *bench_suite(args.durations, workers)) for workers in args.workers or [None]]
        if len(runs) > 1:
            print("\n== side by side")
            for workers, wall, cpu, summary in runs:
                print(f"  -n {workers}: make test {wall:6.1f} s wall, {cpu:6.1f} s CPU  ({summary})")
    kernel_forks.stop_servers(sys.executable)
    print(f"\nend: {load_and_speed()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
