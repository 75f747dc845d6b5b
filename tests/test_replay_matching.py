"""Replay's body matcher decides exactly as vcrpy's own ``body`` matcher, on every pair of requests
recorded in the committed cassettes (it only skips the text diff vcrpy builds for each mismatch); and
replay's index of the recorded requests finds the answers vcrpy's scan of all of them finds."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import vcr.matchers
from vcr.cassette import Cassette
from vcr.request import Request

from tutorial_kit.machinery import replay_index
from tutorial_kit.machinery.recording import CASSETTE_DIR, MATCH_ON, _transformed, build_vcr, same_body

CASSETTES = sorted(CASSETTE_DIR.glob("*/*.yaml"))


def decides(matcher: object, first: Request, second: Request) -> bool:
    try:
        matcher(first, second)  # type: ignore[operator]
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("path", CASSETTES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_same_decision_as_vcrpy_on_every_recorded_request(path: Path) -> None:
    """Each recorded request against itself, against a copy whose JSON keys are in another order, and
    against the three recorded just before it to the same endpoint (bodies matter only once method and path
    match; every pair would cost vcrpy's text diff for each, seconds per cassette)."""
    with build_vcr().use_cassette(str(path), record_mode="none") as cassette:
        requests = [copy.deepcopy(request) for request in cassette.requests]
    assert requests
    for number, first in enumerate(requests):
        others = [second for second in requests[:number] if (second.method, second.path) == (first.method, first.path)]
        for second in [first, reordered(first), *others[-3:]]:
            assert decides(same_body, first, second) == decides(vcr.matchers.body, first, second), (
                first.path,
                second.path,
            )


def reordered(request: Request) -> Request:
    """The same request, its JSON body's keys written in reverse order (vcrpy and replay call it equal)."""
    copied = copy.deepcopy(request)
    try:
        parsed = json.loads(copied.body)
    except (TypeError, ValueError):
        return copied
    if isinstance(parsed, dict):
        copied.body = json.dumps(dict(reversed(list(parsed.items())))).encode()
    return copied


def test_json_key_order_does_not_matter_but_values_do() -> None:
    def request(body: dict[str, object]) -> Request:
        return Request("POST", "http://x/v1", json.dumps(body).encode(), {"content-type": "application/json"})

    assert decides(same_body, request({"a": 1, "b": 2}), request({"b": 2, "a": 1}))
    assert not decides(same_body, request({"a": 1, "b": 2}), request({"a": 1, "b": 3}))
    invalid = Request("POST", "http://x/v1", b"{not json", {"content-type": "application/json"})
    assert decides(same_body, invalid, copy.deepcopy(invalid))  # compared raw, as vcrpy does
    assert not decides(same_body, invalid, request({"a": 1}))


@pytest.mark.parametrize("path", CASSETTES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_the_index_finds_what_vcrpys_scan_finds(path: Path) -> None:
    """Replay looks a request's answers up in groups (replay_index.py) instead of comparing it with every
    recorded request. Each recorded request (40 spread over a long cassette: the scan costs O(n) per request),
    as recorded and with its JSON keys reordered, yields the same interactions in the same order either way."""
    with build_vcr(playback_only=True).use_cassette(str(path), record_mode="none") as cassette:
        scan = cassette._responses
        replay_index.install(cassette, _transformed)
        assert cassette._responses != scan
        requests = cassette.requests
        for request in requests[:: max(1, len(requests) // 40)]:
            for asked in (copy.deepcopy(request), reordered(request)):
                found = [index for index, _ in cassette._responses(copy.deepcopy(asked))]
                assert found and found == [index for index, _ in scan(asked)], asked.path


def test_the_index_keeps_vcrpys_answer_where_the_groups_differ(tmp_path: Path) -> None:
    """Bodies the matcher calls equal although their strings are grouped apart: the same bytes sent as
    text/plain (compared raw), 1 and 1.0 (equal numbers), keys in another order, no body at all."""
    json_type, text_type = {"content-type": "application/json"}, {"content-type": "text/plain"}
    recorded = [
        Request("POST", "http://x/v1", b'{"a": 1, "b": "x"}', json_type),
        Request("POST", "http://x/v1", b'{"a": 1, "b": "x"}', text_type),
        Request("POST", "http://x/v1", b'{"b": "x", "a": 1.0}', json_type),
        Request("POST", "http://x/v1", b'{"a": 2, "b": "y"}', json_type),
        Request("GET", "http://x/v1", None, {}),
        Request("GET", "http://x/v1", None, json_type),
    ]
    cassette = Cassette(str(tmp_path / "c.yaml"), match_on=[getattr(vcr.matchers, name) for name in MATCH_ON[:-1]])
    cassette._match_on = [*cassette._match_on, same_body]
    for number, request in enumerate(recorded):
        cassette.append(request, {"status": {"code": 200, "message": "OK"}, "body": {"string": str(number)}})
    scan = cassette._responses
    replay_index.install(cassette, _transformed)
    asked = [*recorded, Request("POST", "http://x/v1", b'{"b": "x", "a": 1}', json_type)]
    for request in asked:
        expected = [index for index, _ in scan(copy.deepcopy(request))]
        assert [index for index, _ in cassette._responses(copy.deepcopy(request))] == expected, request.body
    # what the index must join across its groups: JSON and the same bytes as text; no body, typed or not
    assert [index for index, _ in scan(recorded[0])] == [0, 1, 2]
    assert [index for index, _ in scan(recorded[4])] == [4, 5]
