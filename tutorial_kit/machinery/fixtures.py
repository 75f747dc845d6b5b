"""Fixtures: recordings of features no server reachable here can produce (DESIGN.md §4).

A fixture spec, ``fixtures/<provider>/<notebook>.yaml``, holds responses written by this
project in the provider's documented response format, with the documentation URL. The
record command runs the notebook and, for a provider with a spec but no key, answers each
of its requests from the spec in order while vcrpy records. So the request side of the
cassette is exactly what the notebook's SDK call sent; only the response is illustrative.
The cassette carries the spec's path in its metadata, the manifest marks it ``fixture``,
and replaying it prints a note under every response it plays.

A response entry has ``path`` and ``body``, optionally ``status`` and ``headers`` (a 429's
``retry-after``). With ``stream: true`` the body is a list of chunks, sent as a real
server-sent-event stream (``data: {...}`` lines, then ``data: [DONE]``), so the SDK parses
it exactly as it parses a provider's stream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import vcr.patch
from vcr.cassette import Cassette, CassetteContextDecorator

from ..errors import KitError
from .recording import PROJECT_ROOT, build_vcr, cassette_path
from .untrusted_yaml import safe_load

FIXTURE_DIR = PROJECT_ROOT / "fixtures"
METADATA_KEY = "fixture"


def spec_path(provider: str, notebook: str) -> Path:
    return FIXTURE_DIR / provider / f"{notebook}.yaml"


def load_spec(provider: str, notebook: str) -> dict[str, Any]:
    return safe_load(spec_path(provider, notebook).read_text(encoding="utf-8"))


def replay_note(docs_url: str) -> str:
    return f"ⓘ 示例数据（fixture）：这个响应由本项目依据文档格式编写，不是真实录制。文档：{docs_url}"


def _answer_from(spec: dict[str, Any], where: str):
    queue = list(spec["responses"])

    def handle_request(transport: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
        if not queue:
            raise KitError(f"{where} 的响应比笔记本发出的请求少：请在规格里补上这一条（{request.url.path}）。")
        entry = queue.pop(0)
        if not request.url.path.endswith(entry["path"]):
            raise KitError(f"{where}：下一条响应是给 {entry['path']} 的，笔记本却请求了 {request.url.path}。")
        return fixture_response(entry, request)

    return handle_request


def sse_bytes(chunks: list[Any]) -> bytes:
    """Chunks as the text/event-stream body a provider sends."""
    events = [f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n" for chunk in chunks]
    return ("".join(events) + "data: [DONE]\n\n").encode("utf-8")


def fixture_response(entry: dict[str, Any], request: httpx2.Request) -> httpx2.Response:
    """The HTTP response one spec entry describes."""
    status = entry.get("status", 200)
    headers = {str(name): str(value) for name, value in (entry.get("headers") or {}).items()}
    if entry.get("stream"):
        headers.setdefault("content-type", "text/event-stream")
        return httpx2.Response(status, headers=headers, content=sse_bytes(entry["body"]), request=request)
    return httpx2.Response(status, headers=headers, json=entry["body"], request=request)


def open_fixture_builder(notebook: str, provider: str) -> tuple[CassetteContextDecorator, Cassette]:
    """Start a fresh cassette whose responses come from the spec instead of the network."""
    spec = load_spec(provider, notebook)
    where = spec_path(provider, notebook).relative_to(PROJECT_ROOT).as_posix()
    path = cassette_path(provider, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    context = build_vcr().use_cassette(str(path), record_mode="all")
    real = vcr.patch._Httpx2HttpTransport_handle_request
    vcr.patch._Httpx2HttpTransport_handle_request = _answer_from(spec, where)
    try:
        cassette = context.__enter__()  # vcrpy reads the "real" transport now
    finally:
        vcr.patch._Httpx2HttpTransport_handle_request = real
    cassette.get_metadata(METADATA_KEY, {"spec": where, "docs_url": spec["docs_url"]})
    return context, cassette


def announce_fixture_plays(cassette: Cassette, docs_url: str) -> None:
    """Print the fixture note under every response the cassette plays."""
    play = cassette.play_response

    def play_and_say(request: Any) -> Any:
        response = play(request)
        print(replay_note(docs_url))
        return response

    cassette.play_response = play_and_say  # type: ignore[method-assign]
