"""make lab's launcher: when it opens the learner's browser, and what it starts Lab with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorial_kit.machinery import lab


@pytest.mark.parametrize(
    ("env", "platform", "opens"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "linux", False),  # a console: a text browser would only get in the way
        ({}, "freebsd14", False),
        ({}, "darwin", True),
        ({}, "win32", True),
        ({"DISPLAY": ":0", "CI": "true"}, "linux", False),
        ({"CI": "1"}, "darwin", False),
        ({"CI": "false", "DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": "localhost:10.0", "SSH_CONNECTION": "10.0.0.2 5 10.0.0.1 22"}, "linux", False),
        ({"SSH_TTY": "/dev/pts/1"}, "darwin", False),
    ],
)
def test_the_browser_opens_only_where_the_learner_can_see_it(env: dict[str, str], platform: str, opens: bool) -> None:
    assert lab.can_open_browser(env, platform) is opens


def test_lab_is_started_with_the_browser_choice_and_no_hard_coded_no_browser() -> None:
    assert "--ServerApp.open_browser=True" in lab.lab_arguments(open_browser=True)
    assert "--ServerApp.open_browser=False" in lab.lab_arguments(open_browser=False)
    assert "--no-browser" not in lab.lab_arguments(open_browser=True)


def test_the_server_log_goes_to_a_file_the_tests_can_move(tmp_path: Path) -> None:
    assert lab.log_path({}) == lab.LOG_PATH
    assert lab.log_path({"TUTORIAL_LAB_LOG": str(tmp_path / "x.log")}) == tmp_path / "x.log"
