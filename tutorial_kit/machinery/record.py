"""``make record``: run notebooks live, write their cassettes, store replayed outputs.

Usage: ``python -m tutorial_kit.machinery.record --provider local [--notebook 01_models ...]``

For each notebook, everything happens first in a private copy of cassettes/ (a
temporary directory): (1) run the notebook live in record mode, which writes the
cassette there; (2) check it for keys and add its manifest entry there; (3) replay the
notebook from that copy and keep those outputs, streams merged into one block per
stream name. Only when all of that succeeded are the new cassettes and the notebook
renamed over the old ones and the manifest entries updated, with SIGINT and SIGTERM held
back for that short moment; until then an interruption or an error leaves the old
cassettes, manifest and notebook byte for byte as they were.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import importlib.metadata
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import nbformat
import yaml
from dotenv import load_dotenv

from ..errors import KitError
from ..providers import EXTRA_KEY_VARIABLES, PROVIDERS, get_provider, key_values
from . import fixtures, local_server, manifest
from .executor import Progress, coalesce_streams, run_notebook, strip_ansi, strip_executor_metadata
from .modes import Mode, resolve_mode
from .notebook_metadata import normalise_metadata
from .recording import CASSETTE_DIR, PROJECT_ROOT, cassette_metadata
from .secret_scan import scan_cassette, scrub_notebook_outputs
from .untrusted_yaml import safe_load

# Overridable so that tests can record a tiny notebook of their own; lessons never set them.
NOTEBOOK_DIR = Path(os.environ.get("TUTORIAL_NOTEBOOK_DIR") or PROJECT_ROOT / "notebooks")
DOTENV_PATH = Path(os.environ.get("TUTORIAL_DOTENV") or PROJECT_ROOT / ".env")
FINISH_CODE = "import tutorial_kit; tutorial_kit.finish_recording()"
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def say(text: str, colour: str = "") -> None:
    """One line of progress; coloured only on a terminal."""
    codes = {"green": "32", "red": "31"}
    if colour and use_colour():
        text = f"\x1b[{codes[colour]}m{text}\x1b[0m"
    print(text, flush=True)


def notebook_paths(names: list[str]) -> list[Path]:
    every = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        hits = [path for path in every if path.stem == name or path.stem.startswith(f"{name}_")]
        if len(hits) != 1:
            raise KitError(f"找不到笔记本 {name!r}（notebooks/ 下有：{', '.join(p.stem for p in every)}）")
        chosen += hits
    return chosen


def server_description(provider: str, base_url: str) -> str:
    if provider == "local":
        state = local_server.read_state()
        if state and state.base_url.rstrip("/") == base_url.rstrip("/"):
            return local_server.describe(state)
        props = local_server.ask_props(base_url, get_provider("local").api_key() or "")
        return (props and local_server.describe_props(props)) or f"本机 OpenAI 兼容服务器 {base_url}"
    return base_url


def manifest_entry(cassette: Path, notebook: str, main_provider: str) -> dict[str, object]:
    provider = get_provider(cassette.parent.name)
    chat = (os.environ.get("LLM_MODEL") if provider.name == main_provider else None) or provider.models.chat
    entry: dict[str, object] = {
        "notebook": notebook,
        "provider": provider.name,
        "origin": "recorded",
        "server": server_description(provider.name, provider.base_url()),
        "base_url": provider.base_url(),
        "models": dict(provider.models.__dict__, chat=chat),
        "recorded_on": dt.date.today().isoformat(),
        "sdk": {pkg: importlib.metadata.version(pkg) for pkg in ("openai", "zhipuai", "vcrpy")},
    }
    fixture = cassette_metadata(cassette).get(fixtures.METADATA_KEY)
    if fixture:
        entry.update(
            origin="fixture",
            server=f"示例数据：{fixture['spec']}（响应依据文档格式由本项目编写，请求由笔记本真实发出）",
            base_url=provider.default_base_url,
            docs_url=fixture["docs_url"],
        )
    return entry


def add_entries(data: dict[str, Any], entries: dict[str, dict[str, object]], notebook: str, provider: str) -> None:
    data["cassettes"].update(entries)
    data["notebooks"][notebook] = provider


def copy_cassettes(staging: Path) -> None:
    shutil.copytree(CASSETTE_DIR, staging, ignore=shutil.ignore_patterns(".manifest*"))


def written_since(staging: Path, notebook: str, started: float) -> list[Path]:
    """The staging cassettes of ``notebook`` this run wrote (the copies keep old mtimes)."""
    return sorted(path for path in staging.glob(f"*/{notebook}.yaml") if path.stat().st_mtime >= started)


def write_staging_manifest(staging: Path, change: dict[str, dict[str, object]], notebook: str, provider: str) -> None:
    """The replay in step (3) reads the manifest from the staging copy."""
    path = staging / manifest.MANIFEST_PATH.name
    data = safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    data = data or {}
    data.setdefault("cassettes", {})
    data.setdefault("notebooks", {})
    add_entries(data, change, notebook, provider)
    path.write_text(manifest.HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=True, width=100), "utf-8")


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM arriving now take effect when the block ends, so the few renames
    inside it are never cut in half. (A handler, not a signal mask: the mask is per
    thread, and a signal may land on one of the client's threads.)"""
    caught: list[int] = []
    previous = {number: signal.signal(number, lambda signum, _frame: caught.append(signum)) for number in HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if caught:
        raise KeyboardInterrupt(f"signal {caught[0]}")


def _temp_beside(target: Path, data: bytes) -> Path:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.chmod(name, 0o644)
    return Path(name)


def commit(files: dict[Path, bytes], entries: dict[str, dict[str, object]], notebook: str, provider: str) -> None:
    """Put the new files in place by rename and then the manifest entries; if anything
    fails on the way, the files already replaced get their old bytes back."""
    temps = {}
    try:
        for target, data in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            temps[target] = _temp_beside(target, data)
        with signals_deferred():
            old = {target: target.read_bytes() if target.is_file() else None for target in files}
            replaced: list[Path] = []
            try:
                for target, temp in temps.items():
                    os.replace(temp, target)
                    replaced.append(target)
                manifest.update_entries(lambda data: add_entries(data, entries, notebook, provider))
            except BaseException:
                for target in replaced:
                    previous = old[target]
                    if previous is None:
                        target.unlink(missing_ok=True)
                    else:
                        os.replace(_temp_beside(target, previous), target)
                raise
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def other_keys_hidden(provider: str) -> dict[str, str]:
    """Every other provider's key variable set empty for the kernel, so the lesson sees what a
    learner without those keys sees (``load_dotenv()`` does not override a variable that exists)."""
    names = [p.key_env for p in PROVIDERS.values() if p.key_env and p.name != provider]
    if provider != "zhipu":
        names += list(EXTRA_KEY_VARIABLES)
    return dict.fromkeys(names, "")


def record_one(path: Path, provider_name: str) -> None:
    provider = get_provider(provider_name)
    resolve_mode("record", provider, os.environ)  # fails early with the fix
    notebook_name = path.stem
    secrets = key_values()
    lesson = nbformat.read(path, as_version=4)
    live = copy.deepcopy(lesson)
    live.cells.append(nbformat.v4.new_code_cell(FINISH_CODE))
    with tempfile.TemporaryDirectory(prefix="record-") as temp:
        staging = Path(temp) / "cassettes"
        copy_cassettes(staging)
        env = {"LLM_PROVIDER": provider.name, "TUTORIAL_CASSETTE_DIR": str(staging), **other_keys_hidden(provider.name)}

        started = time.time() - 1
        say(f"● 录制 {notebook_name}（{provider.name}）…")
        run_notebook(
            live, name=notebook_name, env=dict(env, LLM_MODE=Mode.RECORD.value), cwd=path.parent,
            progress=Progress(f"录制 {notebook_name}"),
        )
        written = written_since(staging, notebook_name, started)
        if staging / provider.name / f"{notebook_name}.yaml" not in written:
            raise KitError(f"{notebook_name} 没有向 {provider.name} 发出任何请求，没有生成录制。")
        entries = {}
        for cassette in written:
            leaks = scan_cassette(cassette, secrets)
            if leaks:
                raise KitError(f"{cassette.name} 中发现疑似密钥（{leaks[0].kind}，第 {leaks[0].line} 行），已丢弃。")
            entries[cassette.relative_to(staging).as_posix()] = manifest_entry(cassette, notebook_name, provider.name)
        write_staging_manifest(staging, entries, notebook_name, provider.name)

        say(f"● 用录制回放 {notebook_name}，保存输出…")
        replayed = run_notebook(
            live, name=notebook_name, env=dict(env, LLM_MODE=Mode.REPLAY.value), cwd=path.parent,
            progress=Progress(f"回放 {notebook_name}"),
        )
        replayed.cells.pop()  # the finish cell
        strip_executor_metadata(replayed, lesson)
        coalesce_streams(replayed)
        normalise_metadata(replayed)
        scrub_notebook_outputs(replayed, secrets)

        files = {CASSETTE_DIR / cassette.relative_to(staging): cassette.read_bytes() for cassette in written}
        files[path] = nbformat.writes(replayed).encode("utf-8") + b"\n"
        commit(files, entries, notebook_name, provider.name)
    names = ", ".join(f"{CASSETTE_DIR.name}/{key}" for key in entries)
    say(f"✔ {notebook_name}：{names} 与笔记本输出已更新", "green")


def refresh_outputs(path: Path, provider_name: str) -> None:
    """Store outputs replayed from the existing recording (nothing live, cassettes untouched): for a
    change to the kit's printed lines (the status line, a mark) that leaves every request the same.
    A request the recording lacks fails the replay, so a lesson whose requests changed is refused."""
    provider = get_provider(provider_name)
    notebook_name = path.stem
    lesson = nbformat.read(path, as_version=4)
    say(f"● 用现有录制回放 {notebook_name}，更新输出…")
    replayed = run_notebook(
        lesson, name=notebook_name, env={"LLM_PROVIDER": provider.name, "LLM_MODE": Mode.REPLAY.value},
        cwd=path.parent, progress=Progress(f"回放 {notebook_name}"),
    )  # fmt: skip
    strip_executor_metadata(replayed, lesson)
    coalesce_streams(replayed)
    normalise_metadata(replayed)
    scrub_notebook_outputs(replayed, key_values())
    commit({path: nbformat.writes(replayed).encode("utf-8") + b"\n"}, {}, notebook_name, provider.name)
    say(f"✔ {notebook_name}：笔记本输出已按现有录制更新（录制未变）", "green")


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Raising lets every cleanup run: the kernel is shut down, the staging copy removed.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="录制笔记本的 HTTP 交互并保存回放输出")
    parser.add_argument("--provider", default="local")
    parser.add_argument("--notebook", action="append", default=[])
    parser.add_argument("--outputs-only", action="store_true", help="不实时运行：用现有录制回放并更新保存的输出")
    args = parser.parse_args(argv)
    load_dotenv(DOTENV_PATH)  # the keys the learner put there; the environment wins
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        paths = notebook_paths(args.notebook)
        if not args.outputs_only:
            resolve_mode("record", get_provider(args.provider), os.environ)  # no key or server: said once
    except KitError as error:
        say(f"✘ {error}", "red")
        return 2
    failures: list[str] = []
    for path in paths:
        try:
            (refresh_outputs if args.outputs_only else record_one)(path, args.provider)
        except KitError as error:  # the next lesson is still recorded; all failures are listed at the end
            say(f"✘ {strip_ansi(str(error))}（录制未保存，旧录制与笔记本未改动）", "red")
            failures.append(f"{path.stem}：{strip_ansi(str(error))}")
        except KeyboardInterrupt:
            say("✘ 录制被中断：正在录制的笔记本未保存，它的旧录制、清单条目与笔记本未改动。", "red")
            return 130
    if failures and len(paths) > 1:
        say(f"✘ {len(failures)} / {len(paths)} 个笔记本没有录成（它们的旧录制与笔记本未改动）：", "red")
        for line in failures:
            say(f"  {line}", "red")
    if failures:
        return 1
    if len(paths) > 1:
        say(f"✔ {len(paths)} 个笔记本全部录制完成", "green")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
