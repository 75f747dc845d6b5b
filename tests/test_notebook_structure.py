"""Every lesson follows DESIGN.md section 6 and stores clean, executed outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tutorial_kit.machinery.recording import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_notebooks_exist_in_reading_order() -> None:
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(numbers))) and numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_cell_has_title_goals_needs_and_outline(path: Path) -> None:
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {path.name[:2]} ")
    for heading in ("你将学到", "你需要", "大纲"):
        assert heading in first.source, heading
    assert re.search(r"^1\. ", first.source, re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_standard_setup(path: Path) -> None:
    code = next(cell for cell in read(path).cells if cell.cell_type == "code").source
    assert "load_dotenv()" in code
    # Further arguments may follow the name (lesson 14 names its embedding model with tasks=).
    assert re.search(rf'start_session\("{path.stem}"[,)]', code)
    assert "OpenAI(api_key=session.api_key, base_url=session.base_url)" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ends_with_summary_and_checked_exercise(path: Path) -> None:
    cells = read(path).cells
    summary = [index for index, cell in enumerate(cells) if cell.cell_type == "markdown" and "小结" in cell.source]
    assert summary, "no summary"
    tail = cells[summary[-1] :]
    assert any("练习" in cell.source for cell in tail if cell.cell_type == "markdown")
    assert any("check(" in cell.source for cell in tail if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stored_and_free_of_tracebacks(path: Path) -> None:
    for cell in read(path).cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, cell.source[:60]
        for output in cell.outputs:
            assert output.output_type != "error", cell.source[:60]
            assert "Traceback" not in output.get("text", ""), cell.source[:60]
