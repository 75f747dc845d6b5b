"""Stored outputs read well on the web: one stream block per stream name in a cell
(``make record`` merges them; issue 8, item 5)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_one_stream_block_per_name_per_cell(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    split = []
    for number, cell in enumerate(notebook.cells, start=1):
        names = Counter(out["name"] for out in cell.get("outputs", []) if out["output_type"] == "stream")
        split += [f"第 {number} 个单元格：{name} ×{count}" for name, count in names.items() if count > 1]
    assert not split, f"{path.name} 需要重新录制（make record NB={path.stem} PROVIDER=local）：" + "；".join(split)
