"""Replay's body matcher decides exactly as vcrpy's own ``body`` matcher, on every pair of requests
recorded in the committed cassettes (it only skips the text diff vcrpy builds for each mismatch)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import vcr.matchers
from vcr.request import Request

from tutorial_kit.machinery.recording import CASSETTE_DIR, build_vcr, same_body

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
