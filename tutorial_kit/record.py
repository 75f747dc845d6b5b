"""``make record``: run notebooks live, write their cassettes, store replayed outputs.

Usage: ``python -m tutorial_kit.record --provider local [--notebook 01_models ...]``

For each notebook: (1) run it live in record mode, which writes the cassette (the old
one is put back if anything fails); (2) run it again in replay mode from that cassette
and save those outputs into the notebook, so stored outputs and cassette always agree;
(3) update the manifest with where the recording came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from . import fixtures, local_server, manifest
from .errors import KitError
from .modes import Mode, resolve_mode
from .providers import Provider, get_provider, key_values
from .recording import CASSETTE_DIR, PROJECT_ROOT, cassette_metadata, cassette_path
from .secret_scan import scan_cassette, scrub_notebook_outputs

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
CELL_TIMEOUT = 600
FINISH_CODE = "import tutorial_kit; tutorial_kit.finish_recording()"


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


def execute(path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel with ``env``; close the session at the end."""
    os.environ.update(env)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    notebook.cells.append(nbformat.v4.new_code_cell(FINISH_CODE))
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    notebook.cells.pop()
    return notebook


def server_description(provider: str, base_url: str) -> str:
    if provider == "local":
        state = local_server.read_state()
        if state:
            return local_server.describe(state)
        return f"本机 OpenAI 兼容服务器 {base_url}"
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


def record_one(path: Path, provider_name: str) -> None:
    provider = get_provider(provider_name)
    resolve_mode("record", provider, os.environ)  # fails early with the fix
    with tempfile.TemporaryDirectory(prefix="record-backup-") as backup:
        _record_with_backup(path, provider, Path(backup))


def _record_with_backup(path: Path, provider: Provider, backup: Path) -> None:
    notebook_name = path.stem
    secrets = key_values()
    old = {cassette: backup / cassette.parent.name for cassette in CASSETTE_DIR.glob(f"*/{notebook_name}.yaml")}
    for cassette, copy in old.items():
        shutil.copy2(cassette, copy)
    old_manifest = manifest.load()
    started = time.time() - 1
    written: list[Path] = []
    print(f"● 录制 {notebook_name}（{provider.name}）…", flush=True)
    try:
        execute(path, {"LLM_PROVIDER": provider.name, "LLM_MODE": Mode.RECORD.value})
        written = [c for c in CASSETTE_DIR.glob(f"*/{notebook_name}.yaml") if c.stat().st_mtime >= started]
        if cassette_path(provider.name, notebook_name) not in written:
            raise KitError(f"{notebook_name} 没有向 {provider.name} 发出任何请求，没有生成录制。")
        entries = {}
        for cassette in written:
            leaks = scan_cassette(cassette, secrets)
            if leaks:
                raise KitError(f"{cassette.name} 中发现疑似密钥（{leaks[0].kind}，第 {leaks[0].line} 行），已丢弃。")
            entries[manifest.key_for(cassette)] = manifest_entry(cassette, notebook_name, provider.name)

        def add_entries(data: dict) -> None:
            data["cassettes"].update(entries)
            data["notebooks"][notebook_name] = provider.name

        manifest.update_entries(add_entries)
        print(f"● 用录制回放 {notebook_name}，保存输出…", flush=True)
        replayed = execute(path, {"LLM_PROVIDER": provider.name, "LLM_MODE": Mode.REPLAY.value})
    except BaseException:
        for cassette in written:
            cassette.unlink(missing_ok=True)
        for cassette, copy in old.items():
            shutil.copy2(copy, cassette)
        manifest.update_entries(lambda data: _restore_entries(data, old_manifest, notebook_name))
        raise
    scrub_notebook_outputs(replayed, secrets)
    nbformat.write(replayed, path)
    names = ", ".join(c.relative_to(PROJECT_ROOT).as_posix() for c in written)
    print(f"✔ {notebook_name}：{names} 与笔记本输出已更新", flush=True)


def _restore_entries(data: dict, old: dict, notebook_name: str) -> None:
    """Put back this notebook's entries only: other runs may have changed the rest meanwhile."""
    for key in [key for key in data["cassettes"] if key.endswith(f"/{notebook_name}.yaml")]:
        del data["cassettes"][key]
    data["cassettes"].update({k: v for k, v in old["cassettes"].items() if k.endswith(f"/{notebook_name}.yaml")})
    data["notebooks"].pop(notebook_name, None)
    if notebook_name in old["notebooks"]:
        data["notebooks"][notebook_name] = old["notebooks"][notebook_name]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="录制笔记本的 HTTP 交互并保存回放输出")
    parser.add_argument("--provider", default="local")
    parser.add_argument("--notebook", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        for path in notebook_paths(args.notebook):
            record_one(path, args.provider)
    except KitError as error:
        print(f"✘ {error}")
        return 1
    except CellExecutionError as error:
        lines = str(error).strip().splitlines()
        # nbclient's message: a header, the cell's source between dashed lines, then the error.
        dashes = [index for index, line in enumerate(lines) if line.startswith("-----")]
        source = lines[dashes[0] + 1 : dashes[1]] if len(dashes) >= 2 else []
        first = next((line for line in source if line.strip()), "?")
        print(f"✘ 单元格执行出错，录制未保存（旧录制已恢复）：{lines[-1]}\n  出错的单元格：{first[:100]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
