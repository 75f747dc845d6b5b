"""``make check-requests PROVIDER=openai|dashscope|zhipu [NB="..."]``: no key, no network.

Runs every lesson (or those named) as if that provider were chosen (``LLM_MODE=check``, see
request_check.py): each request is logged before anything answers it, then answered from the
lesson's own local recording, so the notebook runs on. Every logged request is checked against
the rules of the provider it is addressed to (request_rules.yaml). Prints the violations
(lesson, cell as Lab numbers code cells, parameter, rule, source) and, separately, the points
the documentation does not settle. Exit status 1 on any violation. Writes nothing under
cassettes/ or notebooks/: the executed copies are thrown away, the log lives in a temporary folder.

A cell tagged ``expect-refusal`` shows a provider's refusal on purpose (it catches the error);
its violations are listed as such and do not fail the check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from ..errors import KitError
from ..providers import get_provider
from .executor import QUIET_KERNEL, strip_ansi
from .kernel_transport import PrivateAsyncKernelManager
from .record import notebook_paths
from .recording import CASSETTE_DIR, PROJECT_ROOT
from .request_check import LOG_ENV, MODULES_SUFFIX
from .request_rules import RULES_PATH, Finding, check_request, provider_for_host, rules, summary

CLOUD_PROVIDERS = ("dashscope", "openai", "zhipu")
EXPECTED_TAG = "expect-refusal"
CELL_TIMEOUT = 300
# Keys and settings a learner's shell or .env may hold must not change what is checked.
CLEARED = ("LLM_MODEL", "DASHSCOPE_BASE_URL", "OPENAI_BASE_URL", "ZHIPUAI_BASE_URL", "LOCAL_BASE_URL")
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tutorial-kit" / "check-requests"
"""Per user, not per clone: an entry is found by what its run depended on, so every clone on the machine with the
same lesson, recordings, rules, kit and pinned packages reuses it (as a package cache is shared), and a fresh clone
does not run all 51 lessons again. A clone that differs finds no entry of its own and runs the lesson."""
CACHE_ENTRIES_KEPT = 4
"""Entries kept per lesson and provider (other branches, other clones); the oldest go first."""
PINS = (PROJECT_ROOT / "constraints.txt", PROJECT_ROOT / "requirements.txt")
"""The installed SDKs' versions: a new openai or zhipuai may send other requests."""
KIT_DIR = PROJECT_ROOT / "tutorial_kit"
DATA_DIR = PROJECT_ROOT / "data"
KEY_OWNERS = {"DASHSCOPE_API_KEY": "dashscope", "OPENAI_API_KEY": "openai", "ZHIPUAI_API_KEY": "zhipu",
              "ZAI_API_KEY": "zhipu"}  # fmt: skip
"""Which provider each key variable belongs to: a key seen in a request to another host is a leak."""
KEY_VARIABLE = {"dashscope": "DASHSCOPE_API_KEY", "openai": "OPENAI_API_KEY", "zhipu": "ZHIPUAI_API_KEY"}


@dataclass(frozen=True)
class Row:
    lesson: str
    cell: int | None
    provider: str
    finding: Finding
    expected: bool = False

    def cells_text(self) -> str:
        return f"[{self.cell}]" if self.cell is not None else "[?]"


@dataclass
class LessonRun:
    lesson: str
    chosen: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[tuple[int | None, str]] = field(default_factory=list)
    """(cell, one-line error) for cells that raised while driven."""
    cached: bool = False

    def leaks(self) -> list[str]:
        """Requests that carry a key variable's value to a host of another provider (or to none)."""
        found = []
        for request in self.requests:
            host = provider_for_host(request["url"].split("/")[2]) if "://" in request["url"] else None
            for name in request.get("keys_in_headers", []):
                owner = KEY_OWNERS.get(name)
                if owner is not None and owner != host:
                    found.append(f"{self.lesson} [{request.get('cell')}] 把 {name} 发给了 {request['url']}")
        return found


def _inputs_key(path: Path, chosen: str, env: dict[str, str]) -> str:
    """What a lesson's requests depend on apart from the kit's Python modules: its code, the rules, the data
    files, the recordings it answers from, the kit's files that are not Python (the sandbox's runner), the
    pinned packages and Python's version. Names the cache entry."""
    digest = hashlib.sha256()
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + json.dumps(cell.metadata.get("tags", [])).encode())
    kit = sorted(file for file in KIT_DIR.rglob("*") if file.is_file() and file.suffix not in {".py", ".pyc"})
    data = sorted(file for file in DATA_DIR.rglob("*") if file.is_file())
    _digest_files(digest, [RULES_PATH, *PINS, *kit, *data, *sorted(CASSETTE_DIR.glob(f"*/{path.stem}.yaml"))])
    digest.update(json.dumps([chosen, sorted(env.items()), sys.version]).encode())
    return digest.hexdigest()


def _cache_key(inputs: str, kit_modules: list[str] | None) -> str:
    """Everything a lesson's requests depend on: its ``_inputs_key`` and the kit's modules its kernel loaded
    (``kit_modules``, relative to tutorial_kit/; all of them when not known)."""
    digest = hashlib.sha256(inputs.encode())
    _digest_files(digest, sorted(KIT_DIR.rglob("*.py")) if kit_modules is None else [KIT_DIR / n for n in kit_modules])
    return digest.hexdigest()


def _digest_files(digest: Any, files: list[Path]) -> None:
    for file in files:
        digest.update(str(file.relative_to(PROJECT_ROOT) if file.is_relative_to(PROJECT_ROOT) else file).encode())
        digest.update(file.read_bytes() if file.is_file() else b"(missing)")


def _tags(notebook: nbformat.NotebookNode) -> dict[int, list[str]]:
    """Code cell number as Lab shows it after a top-to-bottom run -> its tags."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return {number: list(cell.metadata.get("tags", [])) for number, cell in enumerate(code, start=1)}


def drive(
    path: Path, chosen: str, log_dir: Path, extra_env: dict[str, str] | None = None, use_cache: bool = True
) -> LessonRun:
    """Run one lesson in check mode in a fresh kernel; every cell runs even after an error. A lesson
    whose code, recordings, rules and kit are unchanged since a run without errors is read from
    the user's cache instead (CACHE_DIR: the requests it sent are what is cached; findings are recomputed)."""
    inputs = _inputs_key(path, chosen, extra_env or {})  # before the run: what the lesson ran with
    cached = CACHE_DIR / chosen / f"{path.stem}-{inputs[:20]}.json"
    if use_cache and cached.is_file():
        try:
            stored = json.loads(cached.read_text(encoding="utf-8"))
            if stored.get("key") == _cache_key(inputs, stored.get("kit_modules")):
                return LessonRun(path.stem, chosen, stored["requests"], [], cached=True)
        except (ValueError, AttributeError, TypeError, OSError):
            pass  # a damaged cache entry: run the lesson again
    run, kit_modules = _drive(path, chosen, log_dir, extra_env)
    if use_cache and not run.stopped:
        key = _cache_key(inputs, kit_modules)
        entry = {"key": key, "kit_modules": kit_modules, "requests": run.requests}
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            partial.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, cached)  # whole or absent: another clone's check may read it at any moment
            older = sorted(cached.parent.glob(f"{path.stem}-*.json"), key=lambda file: file.stat().st_mtime)
            for stale in older[:-CACHE_ENTRIES_KEPT]:
                stale.unlink(missing_ok=True)
        except OSError:
            pass  # no cache (a read-only home): the next check runs the lesson again
    return run


def _drive(
    path: Path, chosen: str, log_dir: Path, extra_env: dict[str, str] | None
) -> tuple[LessonRun, list[str] | None]:
    """The lesson's run, and the kit modules its kernel had loaded when it exited (None if it did not say)."""
    notebook = nbformat.read(path, as_version=4)
    log = log_dir / f"{path.stem}-{chosen}.jsonl"
    log.unlink(missing_ok=True)
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    env.update({"LLM_PROVIDER": chosen, "LLM_MODE": "check", LOG_ENV: str(log), **(extra_env or {})})
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True, extra_arguments=QUIET_KERNEL,
        resources={"metadata": {"path": str(path.parent)}}, kernel_manager_class=PrivateAsyncKernelManager,
    )  # fmt: skip
    modules = Path(str(log) + MODULES_SUFFIX)
    modules.unlink(missing_ok=True)
    client.execute(env=env)
    run = LessonRun(path.stem, chosen)
    try:
        kit_modules = json.loads(modules.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kit_modules = None
    if log.is_file():
        run.requests = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                line = strip_ansi(f"{output.get('ename')}: {output.get('evalue')}")
                run.stopped.append((cell.get("execution_count"), " ".join(line.split())[:160]))
    run.requests = [{**request, "tags": _tags(notebook).get(request.get("cell") or 0, [])} for request in run.requests]
    return run, kit_modules


def rows_of(run: LessonRun) -> list[Row]:
    rows = []
    for request in run.requests:
        if request.get("answered") == "passthrough":
            continue
        expected = EXPECTED_TAG in request["tags"]
        for finding in check_request(request["provider"], request["url"], request.get("body")):
            rows.append(Row(run.lesson, request.get("cell"), request["provider"], finding, expected))
    return rows


def _width(text: str) -> int:
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def render(rows: list[tuple[str, ...]]) -> str:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for index, row in enumerate(rows):
        cells = [text + " " * (widths[i] - _width(text)) for i, text in enumerate(row[:-1])]
        lines.append(" | ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 10)
    return "\n".join(lines)


def grouped(rows: list[Row]) -> list[tuple[str, ...]]:
    """One line per lesson, provider, parameter and rule; the cells listed together."""
    cells: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    for row in rows:
        key = (row.lesson, row.provider, row.finding.param, row.finding.says, row.finding.source)
        if row.cells_text() not in cells[key]:
            cells[key].append(row.cells_text())
    header = ("课", "单元格", "发往", "参数", "来源", "规则")
    return [header, *[(k[0], " ".join(v), k[1], k[2], k[4], k[3]) for k, v in cells.items()]]


def report(runs: list[LessonRun]) -> tuple[str, int]:
    rows = [row for run in runs for row in rows_of(run)]
    violations = [row for row in rows if row.finding.verified and not row.expected]
    expected = [row for row in rows if row.finding.verified and row.expected]
    unverified = [row for row in rows if not row.finding.verified]
    chosen = sorted({run.chosen for run in runs})
    requests = sum(len(run.requests) for run in runs)
    lines = [
        f"● 请求检查（{'、'.join(chosen)}）：不联网、不用密钥，不是实时运行；回答取自本地录制，只为让笔记本跑下去。",
        f"  共检查 {requests} 个请求，来自 {len({run.lesson for run in runs})} 课。",
        "",
    ]
    if violations:
        lines += [f"✘ 违反规则 {len(violations)} 处：", render(grouped(violations)), ""]
    else:
        lines += ["✔ 没有违反规则的请求。", ""]
    if expected:
        lines += ["课程故意演示的拒绝（单元格标了 expect-refusal，会捕获错误）：", render(grouped(expected)), ""]
    if unverified:
        lines += ["文档没有定论的点（unverified，不算失败）：", render(grouped(unverified)), ""]
    missing = [
        (run.lesson, request.get("cell"), request["method"], request["url"])
        for run in runs for request in run.requests if request.get("answered") is None
    ]  # fmt: skip
    if missing:
        lines.append("录制里没有、已检查但无法回答的请求（单元格到此停止）：")
        lines += [f"  {lesson} [{cell}] {method} {url}" for lesson, cell, method, url in missing]
        lines.append("")
    leaks = [leak for run in runs for leak in run.leaks()]
    if leaks:
        lines += [f"✘ 密钥发给了别家 {len(leaks)} 次：", *[f"  {leak}" for leak in leaks], ""]
    stopped = [(run.lesson, run.chosen, cell, error) for run in runs for cell, error in run.stopped]
    if stopped:
        lines.append("检查时出错的单元格（之后的单元格照常运行；它们发出的请求都已检查）：")
        lines += [f"  {lesson}（{chosen}）[{cell}] {error}" for lesson, chosen, cell, error in stopped]
        lines.append("")
    counts = summary()
    lines.append("规则表（有来源 / unverified）：" + "，".join(f"{n} {v}/{u}" for n, (v, u) in counts.items()))
    reused = sum(run.cached for run in runs)
    if reused:
        lines.append(f"（{reused} 次课程运行与上次完全相同，请求取自 {CACHE_DIR}；--no-cache 重新运行）")
    return "\n".join(lines), len(violations) + len(leaks)


def run_all(
    paths: list[Path], providers: list[str], jobs: int = 2, use_cache: bool = True,
    extra_env: dict[str, dict[str, str]] | None = None,
) -> list[LessonRun]:  # fmt: skip
    """``extra_env`` per provider: environment the lessons see on top of ours (e.g. planted keys)."""
    extra_env = extra_env or {}
    with tempfile.TemporaryDirectory(prefix="check-requests-") as folder, ThreadPoolExecutor(jobs) as pool:
        futures = [
            pool.submit(drive, path, provider, Path(folder), extra_env.get(provider), use_cache)
            for path in paths for provider in providers
        ]  # fmt: skip
        return [future.result() for future in futures]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="不联网地检查每课发给某个服务商的请求是否符合它的规则")
    parser.add_argument("--provider", action="append", default=[], help="dashscope、openai、zhipu 或 all")
    parser.add_argument("--notebook", action="append", default=[])
    parser.add_argument("--path", action="append", default=[], type=Path, help="检查任意笔记本文件（例如你新写的）")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-cache", action="store_true", help=f"不用 {CACHE_DIR} 里上次的结果")
    args = parser.parse_args(argv)
    providers = args.provider or ["all"]
    if "all" in providers:
        providers = list(CLOUD_PROVIDERS)
    try:
        for name in providers:
            if name not in rules():
                get_provider(name)  # one line for an unknown name
                raise KitError(f"没有 {name} 的请求规则（request_rules.yaml）。")
        paths = [*notebook_paths(args.notebook), *args.path] if args.notebook or not args.path else list(args.path)
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise KitError(f"找不到笔记本 {'、'.join(missing)}")
    except KitError as error:
        print(f"✘ {strip_ansi(str(error))}")
        return 2
    text, violations = report(run_all(paths, providers, args.jobs, use_cache=not args.no_cache))
    print(text, flush=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
