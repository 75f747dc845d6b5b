"""Provider facts are cited from the project's own SOURCES.md, never from a file learners lack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tutorial_kit.machinery.recording import PROJECT_ROOT

SOURCES = PROJECT_ROOT / "SOURCES.md"
LESSONS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
READERS_SEE = [*LESSONS, PROJECT_ROOT / "README.md", SOURCES]
CITATION = re.compile(r"\[((?:G|\d\d)-\d+)\]")
ROW = re.compile(r"^\| ((?:G|\d\d)-\d+) \| (.+) \| (.+) \| (\d{4}-\d{2}(?:-\d{2})?) \|$")


def source_rows() -> dict[str, tuple[str, str, str]]:
    rows: dict[str, tuple[str, str, str]] = {}
    for line in SOURCES.read_text(encoding="utf-8").splitlines():
        if match := ROW.match(line):
            ident, what, urls, checked = match.groups()
            assert ident not in rows, f"SOURCES.md lists {ident} twice"
            rows[ident] = (what, urls, checked)
    return rows


def test_every_source_row_has_a_url_and_a_check_date() -> None:
    lines = SOURCES.read_text(encoding="utf-8").splitlines()
    table_lines = [line for line in lines if re.match(r"^\| (G|\d\d)-", line)]
    rows = source_rows()
    assert len(rows) == len(table_lines), "a SOURCES.md row does not have the form | id | what | URL | date |"
    for ident, (_, urls, _) in rows.items():
        assert "https://" in urls, f"{ident} has no https URL"


@pytest.mark.parametrize("path", READERS_SEE, ids=lambda p: p.name)
def test_citations_name_rows_that_exist(path: Path) -> None:
    cited = set(CITATION.findall(path.read_text(encoding="utf-8")))
    missing = sorted(cited - set(source_rows()))
    assert not missing, f"{path.name} cites {missing}, which SOURCES.md does not list"


@pytest.mark.parametrize("path", READERS_SEE, ids=lambda p: p.name)
def test_nothing_cites_a_file_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for outside in ("provider-facts", "../shared", "shared/reference", "DESIGN.md"):
        assert outside not in text, f"{path.name} mentions {outside!r}, which learners do not have"


def test_the_checks_catch_a_bad_citation(tmp_path: Path) -> None:
    lesson = tmp_path / "99_x.ipynb"
    lesson.write_text('{"source": "见 SOURCES.md 的 [99-9] 与 provider-facts.md"}', encoding="utf-8")
    assert "99-9" in set(CITATION.findall(lesson.read_text(encoding="utf-8"))) - set(source_rows())
    with pytest.raises(AssertionError):
        test_nothing_cites_a_file_outside_the_repository(lesson)
