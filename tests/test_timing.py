"""Timings in replay: stored in the cassette while recording, shown (with their date) on replay."""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tutorial_kit.machinery.modes import Mode
from tutorial_kit.machinery.recording import CassetteShapeError, build_vcr, check_cassette
from tutorial_kit.timing import METADATA_PREFIX, NO_TIMING_NOTE, recorded_timing

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("served")
    (root / "hello.txt").write_text("hello", encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hello.txt"
    finally:
        server.shutdown()


def _record(path: Path, url: str, timings: dict[str, list[float]]) -> list[Any]:
    """Record one real request, and the timings the way a lesson stores them while recording."""
    returned = []
    with build_vcr().use_cassette(str(path), record_mode="all") as cassette:
        DIRECT.open(url, timeout=5).read()
        for name, values in timings.items():
            returned.append(recorded_timing(SimpleNamespace(cassette=cassette, mode=Mode.RECORD), name, values))
    return returned


def _replay(path: Path, url: str, name: str) -> Any:
    check_cassette(path.read_text(encoding="utf-8"))
    with build_vcr().use_cassette(str(path), record_mode="none") as cassette:
        DIRECT.open(url, timeout=5).read()
        return recorded_timing(SimpleNamespace(cassette=cassette, mode=Mode.REPLAY), name, [0.0001, 0.0002])


def test_live_returns_what_was_measured() -> None:
    timing = recorded_timing(SimpleNamespace(cassette=None, mode=Mode.LIVE), "x", [0.25, 0.5])
    assert timing.values == [0.25, 0.5] and "实时" in timing.note


def test_replay_shows_the_values_measured_while_recording(tmp_path: Path, served: str) -> None:
    path = tmp_path / "lesson.yaml"
    (recorded,) = _record(path, served, {"arrivals": [0.123456, 0.2, 0.31]})
    assert recorded.values == [0.1235, 0.2, 0.31]
    replayed = _replay(path, served, "arrivals")
    assert replayed.values == [0.1235, 0.2, 0.31]  # not the replay's own [0.0001, 0.0002]
    measured_on = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"][METADATA_PREFIX + "arrivals"]
    assert measured_on["measured_on"] in replayed.note and "录制时" in replayed.note


def test_replay_of_a_recording_without_timing_says_so(tmp_path: Path, served: str) -> None:
    path = tmp_path / "lesson.yaml"
    _record(path, served, {})
    replayed = _replay(path, served, "arrivals")
    assert replayed.values is None and replayed.note == NO_TIMING_NOTE


@pytest.mark.parametrize(
    "stored",
    [
        {"values": "fast", "measured_on": "2026-12-04"},
        {"values": [0.1, True], "measured_on": "2026-12-04"},
        {"values": [0.1]},
        {"values": [0.1], "measured_on": "2026-12-04", "extra": 1},
        [0.1, 0.2],
    ],
)
def test_a_cassette_whose_timing_is_not_what_recording_stores_is_refused(
    tmp_path: Path, served: str, stored: Any
) -> None:
    path = tmp_path / "lesson.yaml"
    _record(path, served, {"arrivals": [0.1]})
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["metadata"][METADATA_PREFIX + "arrivals"] = stored
    with pytest.raises(CassetteShapeError):
        check_cassette(yaml.safe_dump(data, allow_unicode=True, sort_keys=True))
