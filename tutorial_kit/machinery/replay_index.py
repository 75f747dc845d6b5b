"""Which recorded interactions a replayed request can match, without comparing it with every one.

vcrpy finds a request's answer by running every matcher on every recorded request, twice per request (is
there an answer, then play it). Lesson 16 sends 240 requests to one address, so only the bodies tell them
apart: that was 57,600 comparisons, about 1 s of CPU. Here the recorded requests are grouped once, as the
cassette opens, by what any match needs: the same body transforms (JSON parsed, and so on) and the same
strings in the transformed body (keys and values; numbers aside, since 1 == 1.0). vcrpy's own matchers still
decide, in recorded order, among the few in the group, so the answer played is the one vcrpy would play.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from xml.parsers.expat import ExpatError

from vcr.cassette import Cassette
from vcr.matchers import _get_transformers, requests_match
from vcr.request import Request
from vcr.util import read_body

BodyKey = tuple[tuple[Callable[[Any], Any], ...], frozenset[tuple[Any, int]]]


def _strings(value: Any, found: list[Any]) -> None:
    """Every str and bytes inside a transformed body, dict keys included."""
    if isinstance(value, str | bytes | bytearray):
        found.append(bytes(value) if isinstance(value, bytearray) else value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings(key, found)
            _strings(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, found)


def body_key(request: Request, transform: Callable[[tuple[Any, ...], Any], Any]) -> tuple[BodyKey, Any]:
    """(transforms and strings of the transformed body, raw body). Two requests whose bodies vcrpy's body
    matcher calls equal have equal keys when their transforms are the same, and equal raw bodies otherwise."""
    transformers = tuple(_get_transformers(request))
    raw = read_body(request)
    try:
        transformed = transform(transformers, raw)
    except (ValueError, ExpatError):  # the body matcher then compares raw bodies
        transformed = raw
    found: list[Any] = []
    _strings(transformed, found)
    counted = frozenset(Counter((type(item).__name__, item) for item in found).items())
    return (transformers, counted), raw


def install(cassette: Cassette, transform: Callable[[tuple[Any, ...], Any], Any]) -> None:
    """Replace ``cassette._responses`` (vcrpy's scan, used to ask and to play) with a lookup in the groups.
    ``transform`` is the body matcher's own transform, so both see the same transformed bodies."""
    groups: dict[BodyKey, list[int]] = {}
    by_raw: dict[Any, list[int]] = {}
    transforms: list[tuple[Any, ...]] = []
    for index, (stored, _response) in enumerate(cassette.data):
        key, raw = body_key(stored, transform)
        groups.setdefault(key, []).append(index)
        transforms.append(key[0])
        if raw is None or isinstance(raw, str | bytes):
            by_raw.setdefault(raw, []).append(index)
    count = len(cassette.data)
    scan = cassette._responses

    def responses(request: Request) -> Iterator[tuple[int, Any]]:
        if len(cassette.data) != count:  # something appended since (replay never does): vcrpy's own scan
            yield from scan(request)
            return
        request = cassette._before_record_request(request)
        if request is None:
            return
        key, raw = body_key(request, transform)
        candidates = set(groups.get(key, ()))
        if raw is None or isinstance(raw, str | bytes):  # other transforms: the matcher compares raw bodies
            candidates.update(index for index in by_raw.get(raw, ()) if transforms[index] != key[0])
        for index in sorted(candidates):
            stored, response = cassette.data[index]
            if requests_match(request, stored, cassette._match_on):
                yield index, response

    cassette._responses = responses  # type: ignore[method-assign]
