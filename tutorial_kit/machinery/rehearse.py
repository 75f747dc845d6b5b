"""``make rehearse``: run every lesson live against one provider, the evening before a workshop.

Usage: ``python -m tutorial_kit.machinery.rehearse --provider local [--notebook 05_streaming ...]
[--baseline cassettes|DIR|git:REV]``

Each notebook runs through papermill in a fresh kernel, live, with its traffic captured by
the kit's recorder into ``runs/<date>-<provider>/cassettes/`` (a copy of cassettes/; the
lesson's own cassettes and the lesson itself are never written). The executed copies go
to ``runs/<date>-<provider>/``. At the end: a table per notebook (ok or the failing cell
and its error, time, tokens from the responses' ``usage``, estimated cost where the price
table has the model) and the drift report (drift.py). Exit status 1 if any notebook failed.
Everything it prints or writes (screen, report.txt, the executed copies) goes through the
scrubber ``make record`` uses, with every key from the environment and ``.env``: an endpoint
whose error echoes the key shows REDACTED.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from dotenv import load_dotenv
from tqdm import tqdm

from .. import pricing
from ..errors import KitError
from ..providers import get_provider, key_values
from . import fixtures, record
from .drift import CassetteDrift, compare_cassettes
from .executor import NotebookFailed, Progress, run_notebook, strip_ansi
from .modes import Mode, resolve_mode
from .recording import CASSETTE_DIR, PROJECT_ROOT
from .secret_scan import redact, scrub_notebook_outputs
from .traffic import Usage, load_cassette_text, model_of, usage_of

RUNS_DIR = PROJECT_ROOT / "runs"
# A failing notebook stops at its failing cell; the recorder still writes what it saw
# when the kernel exits, so its tokens and drift are counted too.
SETUP_CODE = "import atexit, tutorial_kit; atexit.register(tutorial_kit.finish_recording)"


@dataclass
class NotebookResult:
    name: str
    seconds: float
    failure: NotebookFailed | None = None
    usage: Usage = field(default_factory=Usage)
    without_usage: int = 0
    cost: dict[str, float] = field(default_factory=dict)
    """Estimated cost per currency."""
    unpriced: set[str] = field(default_factory=set)
    """Models with tokens but no row in the price table."""
    drift: list[CassetteDrift] = field(default_factory=list)
    answered: int = 0
    """Live requests that got a response (failed connections leave none)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    def tokens_text(self) -> str:
        text = f"{self.usage.prompt_tokens}+{self.usage.completion_tokens}"
        return text + (f"（{self.without_usage} 个响应无 usage）" if self.without_usage else "")

    def cost_text(self) -> str:
        if self.unpriced:
            return f"—（价格表无 {'、'.join(sorted(self.unpriced))}）"
        if not self.cost:
            return "—（无 usage）"
        return " + ".join(f"{amount:.4f} {currency}" for currency, amount in sorted(self.cost.items()))

    def drift_text(self) -> str:
        compared = sum(cassette.compared for cassette in self.drift)
        return f"{sum(len(cassette.drifts) for cassette in self.drift)}/{compared}" if compared else "—"

    def error_text(self) -> str:
        if self.failure is None:
            return ""
        return f"单元格 [{self.failure.cell_number}]（{self.failure.first_line}）：{self.failure.error_line}"


class Baseline:
    """Where the recordings to compare against come from: a folder, or a git revision."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        inside = not spec.startswith("git:") and Path(spec).resolve().is_relative_to(PROJECT_ROOT)
        self.shown = Path(spec).resolve().relative_to(PROJECT_ROOT).as_posix() if inside else spec

    def text(self, relative: str) -> str | None:
        if self.spec.startswith("git:"):
            shown = subprocess.run(
                ["git", "show", f"{self.spec[4:]}:cassettes/{relative}"],
                cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            return shown.stdout if shown.returncode == 0 else None
        path = PROJECT_ROOT / self.spec / relative  # an absolute spec stays absolute
        return path.read_text(encoding="utf-8") if path.is_file() else None


def run_folder(provider: str, base: Path = RUNS_DIR) -> Path:
    stem = f"{dt.date.today().isoformat()}-{provider}"
    folder, number = base / stem, 1
    while folder.exists():
        number += 1
        folder = base / f"{stem}-{number}"
    folder.mkdir(parents=True)
    return folder


def measure(result: NotebookResult, staging: Path, started: float, baseline: Baseline) -> None:
    """Tokens, cost and drift from the live traffic this notebook's run captured."""
    for cassette in record.written_since(staging, result.name, started):
        live, metadata = load_cassette_text(cassette.read_text(encoding="utf-8"))
        if fixtures.METADATA_KEY in metadata:
            continue  # built from a fixture spec for lack of a key: not traffic
        provider = cassette.parent.name
        for interaction in live:
            result.answered += 1
            usage = usage_of(interaction)
            if usage is None:
                result.without_usage += interaction.generates_text()
                continue
            result.usage.add(usage)
            model = model_of(interaction)
            cost = pricing.estimate_cost(provider, model, usage.__dict__)
            price = pricing.price_for(provider, model)
            if cost is None or price is None:
                result.unpriced.add(f"{provider}/{model}")
            else:
                result.cost[price.currency] = result.cost.get(price.currency, 0.0) + cost
        relative = cassette.relative_to(staging).as_posix()
        recorded_text = baseline.text(relative)
        if recorded_text is None:
            continue
        recorded, recorded_metadata = load_cassette_text(recorded_text)
        spec = (recorded_metadata.get(fixtures.METADATA_KEY) or {}).get("spec")
        result.drift.append(compare_cassettes(relative, recorded, live, spec))


def rehearse_one(
    path: Path, provider: str, staging: Path, out: Path, baseline: Baseline, secrets: tuple[str, ...] = ()
) -> NotebookResult:
    notebook = copy.deepcopy(nbformat.read(path, as_version=4))
    notebook.cells.insert(0, nbformat.v4.new_code_cell(SETUP_CODE))
    notebook.cells.append(nbformat.v4.new_code_cell(record.FINISH_CODE))
    env = {"LLM_PROVIDER": provider, "LLM_MODE": Mode.RECORD.value, "TUTORIAL_CASSETTE_DIR": str(staging)}
    started, clock = time.time() - 1, time.monotonic()
    failure = None
    # papermill saves as it goes: into a private folder, and only a scrubbed copy reaches runs/.
    with tempfile.TemporaryDirectory(prefix="rehearse-") as private:
        executed = Path(private) / path.name
        try:
            run_notebook(
                notebook, name=path.stem, env=env, cwd=path.parent, output_path=executed,
                progress=Progress(path.stem, position=1), prepended_cells=1,
            )  # fmt: skip
        except NotebookFailed as error:
            failure = NotebookFailed(
                error.notebook, error.cell_number, redact(error.first_line, secrets), redact(error.error_line, secrets)
            )
        finally:
            if executed.is_file():
                copy_of_run = nbformat.read(executed, as_version=4)
                scrub_notebook_outputs(copy_of_run, secrets)
                nbformat.write(copy_of_run, out / path.name)
    result = NotebookResult(path.stem, time.monotonic() - clock, failure)
    measure(result, staging, started, baseline)
    return result


def table(results: list[NotebookResult]) -> str:
    rows = [("笔记本", "结果", "用时", "tokens 输入+输出", "估算费用", "形状变化", "出错的单元格与错误")]
    rows += [
        (r.name, "ok" if r.ok else "失败", f"{r.seconds:.0f} s", r.tokens_text(), r.cost_text(), r.drift_text(),
         r.error_text())
        for r in results
    ]  # fmt: skip
    total = Usage()
    for r in results:
        total.add(r.usage)
    failed = sum(not r.ok for r in results)
    rows.append(("合计", f"{len(results) - failed}/{len(results)} ok", f"{sum(r.seconds for r in results):.0f} s",
                 f"{total.prompt_tokens}+{total.completion_tokens}", "", "", ""))  # fmt: skip

    def width(text: str) -> int:
        return sum(2 if ord(char) > 0x2E7F else 1 for char in text)

    last = len(rows[0]) - 1
    widths = [max(width(row[i]) for row in rows) for i in range(last)]
    lines = []
    for index, row in enumerate(rows):
        cells = [text + " " * (widths[i] - width(text)) for i, text in enumerate(row[:last])]
        lines.append(" | ".join([*cells, row[last]]).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 10)
    return "\n".join(lines)


def drift_report(results: list[NotebookResult], baseline: Baseline) -> str:
    lines = [f"响应形状的变化（对照 {baseline.shown}；+ 新字段，- 消失的字段，~ 类型变化）："]
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        for cassette in result.drift:
            lines += cassette.report_lines()
            counts["compared"] += cassette.compared
            counts["drifted"] += len(cassette.drifts)
    if len(lines) == 1 and not any(result.answered for result in results):
        lines.append("（没有可对照的请求：这次运行没有一个请求得到服务商的回答，原因见上表的错误）")
    elif len(lines) == 1:
        lines.append("（没有可对照的请求：这次运行的请求都不在录制中）")
    lines.append(f"共比较 {counts['compared']} 个请求，{counts['drifted']} 个形状有变化。")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="上课前把全部笔记本实时跑一遍，并报告响应形状的变化")
    parser.add_argument("--provider", default="local")
    parser.add_argument("--notebook", action="append", default=[])
    parser.add_argument("--baseline", default=str(CASSETTE_DIR), help="对照的录制：目录，或 git:<提交>")
    parser.add_argument("--out", type=Path, default=RUNS_DIR, help="执行副本放在这里的 <日期>-<服务商>/ 下")
    args = parser.parse_args(argv)
    load_dotenv(record.DOTENV_PATH)
    signal.signal(signal.SIGTERM, record._stop_on_sigterm)
    secrets = tuple(key_values())
    try:
        provider = get_provider(args.provider)
        resolve_mode(Mode.LIVE.value, provider, os.environ)
        paths = record.notebook_paths(args.notebook)
    except KitError as error:
        print(redact(f"✘ {strip_ansi(str(error))}", secrets))
        return 1
    out = run_folder(provider.name, args.out)
    staging = out / "cassettes"
    record.copy_cassettes(staging)
    baseline = Baseline(args.baseline)
    starting = f"● 实时预演 {len(paths)} 个笔记本（{provider.name}，{provider.base_url()}），执行副本：{out}"
    print(redact(starting, secrets), flush=True)
    results = []
    overall = tqdm(total=len(paths), desc="全部笔记本", unit="本", position=0, disable=None)
    try:
        for path in paths:
            result = rehearse_one(path, provider.name, staging, out, baseline, secrets)
            results.append(result)
            overall.update(1)
            mark = "✔" if result.ok else "✘"
            tqdm.write(redact(f"{mark} {result.name} {result.seconds:.0f} s {result.error_text()}".rstrip(), secrets))
            sys.stdout.flush()
    except KeyboardInterrupt:
        overall.close()
        print("✘ 预演被中断；下面是已跑完的笔记本。")
        results.append(NotebookResult("（被中断）", 0.0, NotebookFailed("（被中断）", 0, "-", "KeyboardInterrupt")))
    overall.close()
    report = redact(f"{table(results)}\n\n{drift_report(results, baseline)}\n", secrets)
    (out / "report.txt").write_text(report, encoding="utf-8")
    print(report + f"\n（表格与报告也存在 {out / 'report.txt'}）", flush=True)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
