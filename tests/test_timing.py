"""A timing means something only live: replay and recording say so instead of printing numbers."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tutorial_kit.machinery.modes import Mode
from tutorial_kit.machinery.recording import build_vcr
from tutorial_kit.timing import RECORD_REASON, REPLAY_REASON, no_timing_reason

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy
PAUSE = 0.4


class _SlowStream(http.server.BaseHTTPRequestHandler):
    """Two chunks PAUSE seconds apart, as a streaming server sends them."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            self.wfile.write(piece)
            self.wfile.flush()
            time.sleep(PAUSE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def slow_stream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _first_chunk_after(url: str) -> float:
    """Seconds until the first chunk reached the code, read through httpx as the SDKs do."""
    import httpx

    started = time.perf_counter()
    with httpx.Client(trust_env=False) as client, client.stream("GET", url) as response:
        for _ in response.iter_raw():
            return time.perf_counter() - started
    raise AssertionError("no chunk")


def test_live_times_and_replay_or_recording_say_why_not() -> None:
    assert no_timing_reason(SimpleNamespace(cassette=None, mode=Mode.LIVE)) is None
    assert no_timing_reason(SimpleNamespace(cassette=object(), mode=Mode.REPLAY)) == REPLAY_REASON
    assert no_timing_reason(SimpleNamespace(cassette=object(), mode=Mode.RECORD)) == RECORD_REASON


def test_the_reason_recording_gives_is_true(slow_stream: str, tmp_path: Path) -> None:
    """Live, the first chunk arrives before the pause; while recording, only after the whole stream."""
    assert _first_chunk_after(slow_stream) < PAUSE
    with build_vcr().use_cassette(str(tmp_path / "c.yaml"), record_mode="all"):
        assert _first_chunk_after(slow_stream) >= 2 * PAUSE


def test_timing_lines_are_one_line_each() -> None:
    assert "\n" not in REPLAY_REASON + RECORD_REASON
