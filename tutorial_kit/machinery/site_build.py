"""make site: the web edition, built by Sphinx + MyST-NB from the stored outputs (nothing is executed).

The lessons are staged in ``build/site-src`` with two notes added under each title: where its
recordings came from (from ``cassettes/manifest.yaml``) and how to run it yourself. Warnings
are errors, so a broken image or link fails the build.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
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
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_MIME_TYPES = ("text/plain", "text/markdown", "text/html", "text/latex", "application/javascript", "image/svg+xml")
"""Output data shown as text when no text/plain repr exists, in this order: never rendered."""
NOTEBOOK_METADATA_KEPT = ("kernelspec", "language_info")
FIELD_LIMIT = 300
"""Characters of one manifest field shown on the site (the longest real server description has 183)."""


def lesson_paths() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _one_line(value: object) -> str:
    """A manifest value as one bounded line: control characters and line breaks become spaces."""
    text = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"


def _inert(value: object) -> str:
    """Markdown that shows ``value`` as plain text: every ASCII punctuation mark is escaped, so
    no backtick, bracket, brace or angle bracket in it can start code, a link, a role or HTML."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", _one_line(value))


def _code(value: object) -> str:
    """An inline code span that holds ``value`` literally, whatever backticks it contains."""
    text = _one_line(value)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def _link(url: object) -> str:
    """An https address as a link; anything else (javascript:, data:, spaces) as text."""
    text = _one_line(url)
    return f"<{text}>" if re.fullmatch(r"https://[^\s<>`\\\"']+", text) else _inert(text)


def _describe(entry: dict[str, Any]) -> str:
    models = entry.get("models") or {}
    provider = _inert(entry.get("provider", "未知"))
    if entry.get("origin") == "fixture":
        docs = _link(entry.get("docs_url", ""))
        return f"- **{provider}**：示例数据（按文档格式编写的响应，请求由笔记本真实发出；文档 {docs}）"
    return (
        f"- **{provider}**：{_inert(entry.get('recorded_on', '日期未知'))} 录制，"
        f"服务器 {_inert(entry.get('server', '未知'))}，模型 {_code(models.get('chat', '未知'))}"
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


def _is_png(encoded: object) -> bool:
    if not isinstance(encoded, str):
        return False
    try:
        return base64.b64decode(encoded, validate=False)[:8] == PNG_SIGNATURE
    except (binascii.Error, ValueError):
        return False


def _as_text(value: object) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def inert_output(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A stored output as the site may show it. Outputs are data, not page content: text is
    shown as text, and the only thing rendered is a PNG image (what the lessons' own plots
    are); HTML, Markdown, JavaScript, SVG and widget outputs appear as their source text."""
    kind = output.get("output_type")
    if kind == "stream":
        text = _as_text(output.get("text", ""))
        return nbformat.v4.new_output("stream", name=output.get("name", "stdout"), text=text)
    if kind == "error":
        return nbformat.v4.new_output(
            "error",
            ename=_as_text(output.get("ename", "")),
            evalue=_as_text(output.get("evalue", "")),
            traceback=[_as_text(line) for line in output.get("traceback", [])],
        )
    data = output.get("data", {}) if isinstance(output.get("data"), dict) else {}
    shown: dict[str, str] = {}
    if _is_png(data.get("image/png")):
        shown["image/png"] = data["image/png"]
    textual = next((data[mime] for mime in TEXT_MIME_TYPES if mime in data), None)
    shown["text/plain"] = _as_text(textual) if textual is not None else f"<{' / '.join(sorted(data)) or kind}>"
    if kind == "execute_result":
        return nbformat.v4.new_output("execute_result", data=shown, execution_count=output.get("execution_count"))
    return nbformat.v4.new_output("display_data", data=shown)


# A lesson's own picture: ![alt](../images/name.png), not yet given attributes.
LESSON_PICTURE = re.compile(r"!\[[^\]\n]*\]\((?P<path>\.\./images/[\w.-]+\.png)\)(?!\{)")
SMALL_PICTURE_WIDTH = 160
"""Pictures narrower than this (px) are shown ZOOM times as wide, pixels kept crisp (site.css)."""
ZOOM = 4


def _png_width(path: Path) -> int | None:
    try:
        head = path.read_bytes()[:24]
    except OSError:
        return None
    return int.from_bytes(head[16:20], "big") if head.startswith(PNG_SIGNATURE) and len(head) == 24 else None


def enlarge_small_pictures(markdown: str) -> str:
    """A picture a few dozen pixels wide (made small for a model) is unreadable at its own size
    in the page: give it a width (MyST attrs_inline) ZOOM times its own."""

    def enlarged(found: re.Match[str]) -> str:
        width = _png_width(NOTEBOOK_DIR / found["path"])
        if width is None or width >= SMALL_PICTURE_WIDTH:
            return found[0]
        return f"{found[0]}{{.small-picture width={width * ZOOM}px}}"

    return LESSON_PICTURE.sub(enlarged, markdown)


def staged_notebook(path: Path, data: dict[str, Any]) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata = nbformat.from_dict({k: v for k, v in notebook.metadata.items() if k in NOTEBOOK_METADATA_KEPT})
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "raw":  # raw cells can carry HTML for the site: show their text instead
            fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", cell.source)), default=0) + 1)
            notebook.cells[index] = cell = nbformat.v4.new_markdown_cell(f"{fence}text\n{cell.source}\n{fence}")
        cell.get("metadata", {}).pop("mystnb", None)  # per-cell render settings (mime priorities)
        if cell.cell_type == "markdown":
            cell.source = enlarge_small_pictures(cell.source)
        if cell.cell_type == "code":
            cell.outputs = [inert_output(output) for output in cell.get("outputs", [])]
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
    parser.add_argument("--staging", type=Path, default=STAGING_DIR)
    parsed = parser.parse_args(argv)
    status = build(parsed.output, parsed.staging)
    if status == 0:
        print(f"网页版已生成：{parsed.output / 'index.html'}（用浏览器打开）")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
