"""Lessons 08 and later in JupyterLab, as test_browser_lab.py checks 00-07: its own ``make lab`` on its own
fresh clone, so that pytest-xdist (one file per worker, --dist loadfile) runs both halves at the same time."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser_lab import (  # noqa: F401 (fixtures)
    LATER_LESSONS,
    Lab,
    LabWindow,
    assert_clone_unchanged,
    check_lesson_in_lab,
    lab,
    lab_window,
)


@pytest.mark.parametrize("lesson", LATER_LESSONS, ids=lambda path: path.stem)
def test_lesson_opens_unmodified_runs_and_saves_byte_identical(
    lab: Lab,  # noqa: F811
    lab_window: LabWindow,  # noqa: F811
    lesson: Path,
) -> None:
    check_lesson_in_lab(lab, lab_window, lesson)


def test_no_file_of_the_clone_changed_after_its_lessons_ran_and_were_saved(lab: Lab) -> None:  # noqa: F811
    assert_clone_unchanged(lab)
