"""make site: the web edition, built by Sphinx + MyST-NB from the stored outputs (nothing is executed).

The lessons are staged in ``build/site-src`` with two notes added under each title: where its
recordings came from (from ``cassettes/manifest.yaml``) and how to run it yourself. Warnings
are errors, so a broken image or link fails the build.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat

from . import manifest
from .environment import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
SITE_DIR = PROJECT_ROOT / "site"
STAGING_DIR = PROJECT_ROOT / "build" / "site-src"
OUTPUT_DIR = PROJECT_ROOT / "build" / "site"
HIDDEN_SOURCE_TAG = "hide-input"
PROVENANCE_CLASS = "lesson-provenance"


def lesson_paths() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _describe(entry: dict[str, Any]) -> str:
    models = entry.get("models") or {}
    if entry.get("origin") == "fixture":
        docs = entry.get("docs_url", "")
        return f"- **{entry['provider']}**：示例数据（按文档格式编写的响应，请求由笔记本真实发出；文档 <{docs}>）"
    return (
        f"- **{entry['provider']}**：{entry.get('recorded_on', '日期未知')} 录制，"
        f"服务器 {entry.get('server', '未知')}，模型 `{models.get('chat', '未知')}`"
    )


def provenance_markdown(notebook: str, data: dict[str, Any]) -> str:
    entries = [entry for entry in data.get("cassettes", {}).values() if entry.get("notebook") == notebook]
    entries.sort(key=lambda entry: (entry.get("origin") != "recorded", entry.get("provider", "")))
    if entries:
        origin = "本页输出来自这些录制（见仓库的 `cassettes/manifest.yaml`）：\n\n" + "\n".join(map(_describe, entries))
    else:
        origin = "本页没有 API 调用的录制：输出来自在本机运行的普通代码。"
    run_yourself = (
        f"**自己运行**：克隆仓库后运行 `make lab`（没有 make 时：`python -m tutorial_kit lab`），"
        f"打开 `notebooks/{notebook}.ipynb`。没有密钥时回放这些录制；在 `.env` 里填写密钥即可实时调用。"
    )
    return f"````{{admonition}} 录制来源与自己运行\n:class: {PROVENANCE_CLASS}\n\n{origin}\n\n{run_yourself}\n````"


def staged_notebook(path: Path, data: dict[str, Any]) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        # A reference answer folded away in JupyterLab is folded on the site too.
        if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            tags = cell.metadata.setdefault("tags", [])
            if HIDDEN_SOURCE_TAG not in tags:
                tags.append(HIDDEN_SOURCE_TAG)
    note = nbformat.v4.new_markdown_cell(provenance_markdown(path.stem, data))
    note["id"] = "site-provenance"
    notebook.cells.insert(_after_title(notebook), note)
    return notebook


def _after_title(notebook: nbformat.NotebookNode) -> int:
    """Where the note goes: right under the title, splitting the opening cell if the title shares it."""
    first = notebook.cells[0]
    lines = first.source.splitlines(keepends=True)
    if first.cell_type != "markdown" or not lines or not lines[0].startswith("# ") or len(lines) == 1:
        return 1
    rest = nbformat.v4.new_markdown_cell("".join(lines[1:]).lstrip("\n"))
    rest["id"] = f"{first.get('id', 'title')}-rest"
    first.source = lines[0].rstrip("\n")
    notebook.cells.insert(1, rest)
    return 1


def _write_if_changed(target: Path, text: str) -> None:
    """Leave unchanged files alone so Sphinx rebuilds only what changed."""
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def stage(staging: Path = STAGING_DIR) -> list[Path]:
    """Write the site's sources into ``staging``; return the staged lessons."""
    data = manifest.load()
    wanted: set[Path] = set()
    for source in SITE_DIR.glob("*.md"):
        wanted.add(staging / source.name)
        _write_if_changed(staging / source.name, source.read_text(encoding="utf-8"))
    wanted.add(staging / "sources.md")
    _write_if_changed(staging / "sources.md", (PROJECT_ROOT / "SOURCES.md").read_text(encoding="utf-8"))
    for image in (PROJECT_ROOT / "images").iterdir():
        if image.is_file():
            wanted.add(staging / "images" / image.name)
            target = staging / "images" / image.name
            if not target.exists() or target.read_bytes() != image.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image, target)
    lessons = []
    for path in lesson_paths():
        target = staging / "notebooks" / path.name
        wanted.add(target)
        _write_if_changed(target, nbformat.writes(staged_notebook(path, data)) + "\n")
        lessons.append(target)
    for stale in [p for p in staging.rglob("*") if p.is_file() and p not in wanted]:
        stale.unlink()  # a lesson renamed or removed must not linger on the site
    return lessons


def build(output: Path = OUTPUT_DIR, staging: Path = STAGING_DIR, quiet: bool = True) -> int:
    """Stage and run Sphinx with warnings as errors; return Sphinx's exit status."""
    from sphinx.cmd.build import build_main

    stage(staging)
    arguments = ["-W", "--keep-going", "-b", "html", "-c", str(SITE_DIR), "-d", str(output.parent / "site-doctrees")]
    if quiet:
        arguments.append("-q")
    return build_main([*arguments, str(staging), str(output)])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial_kit.machinery.site_build", description="构建网页版（make site）。"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parsed = parser.parse_args(argv)
    status = build(parsed.output)
    if status == 0:
        print(f"网页版已生成：{parsed.output / 'index.html'}（用浏览器打开）")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
