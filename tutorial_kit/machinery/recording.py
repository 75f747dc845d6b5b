"""vcrpy inside the kernel: strict matching, scrubbing, and clear replay misses."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import vcr
from vcr.cassette import Cassette, CassetteContextDecorator
from vcr.matchers import _get_transformers
from vcr.persisters.filesystem import FilesystemPersister
from vcr.request import Request
from vcr.serialize import CASSETTE_FORMAT_VERSION, deserialize
from vcr.serializers import yamlserializer
from vcr.util import read_body

from ..errors import CassetteMissError, KitError
from . import replay_index, untrusted_yaml
from .environment import PROJECT_ROOT
from .one_at_a_time import while_vcr_reads_the_transports
from .replay_miss import miss_message
from .secret_scan import redact, redact_bytes, redact_event_stream, redact_value
from .stable_record import StableValues, chain

# Overridable so that tests can replay a tampered copy; notebooks never set it.
CASSETTE_DIR = Path(os.environ.get("TUTORIAL_CASSETTE_DIR") or PROJECT_ROOT / "cassettes")

MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")
"""The body matcher compares JSON bodies as parsed JSON, so key order does not matter."""

CLOSED_PORT_URL = "http://127.0.0.1:9/v1"
"""Nothing listens on port 9 here: requests to it pass by the cassette and really fail."""

PASSTHROUGH_NETLOCS: set[str] = {urlsplit(CLOSED_PORT_URL).netloc}
"""Loopback addresses whose requests really happen in every mode, never recorded: the closed
port above and the silent servers that lessons open for timeouts (silent_server.py)."""

REQUEST_HEADERS_KEPT = {"content-type", "accept"}
RESPONSE_HEADERS_KEPT = {"content-type", "x-request-id", "request-id", "retry-after"}


def cassette_path(provider: str, notebook: str) -> Path:
    return CASSETTE_DIR / provider / f"{notebook}.yaml"


def record_command(notebook: str, provider: str) -> str:
    return f"make record NB={notebook} PROVIDER={provider}"


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset=([\w.-]+)", content_type, re.IGNORECASE)
    return found.group(1) if found else None


def _redact_stream(body: Any, secrets: Iterable[str]) -> Any:
    """An event stream is scanned whole first: a key streamed in pieces spans several ``data:`` lines."""
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return body
        cleaned = redact_event_stream(text, secrets)
        return body if cleaned == text else cleaned.encode("utf-8")
    return redact_event_stream(body, secrets) if isinstance(body, str) else body


def _redact_body(body: Any, secrets: Iterable[str], content_type: str = "") -> Any:
    """Every body is redacted: text in its own encoding, anything else byte-wise."""
    if "event-stream" in content_type.lower():
        body = _redact_stream(body, secrets)
    if isinstance(body, bytes | bytearray) and body:
        return redact_bytes(bytes(body), secrets, _charset(content_type))
    if isinstance(body, str) and body:
        return redact(body, secrets)
    return body


def _header(headers: Any, name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) and value else str(value)
    return ""


def _is_passthrough(uri: str) -> bool:
    return urlsplit(uri).netloc in PASSTHROUGH_NETLOCS


def make_request_scrubber(secrets: Iterable[str]) -> Callable[[Request], Request | None]:
    secrets = tuple(secrets)

    def scrub_request(request: Request) -> Request | None:
        if _is_passthrough(request.uri):
            return None
        content_type = _header(request.headers, "content-type")
        for name in list(request.headers):
            if name.lower() not in REQUEST_HEADERS_KEPT:
                del request.headers[name]
            else:
                request.headers[name] = redact(request.headers[name], secrets)
        request.uri = redact(request.uri, secrets)
        request.body = _redact_body(request.body, secrets, content_type)
        return request

    return scrub_request


def make_response_scrubber(secrets: Iterable[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    secrets = tuple(secrets)

    def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
        headers = response["headers"]
        body = response["body"]
        body["string"] = _redact_body(body.get("string"), secrets, _header(headers, "content-type"))
        kept = {name: value for name, value in headers.items() if name.lower() in RESPONSE_HEADERS_KEPT}
        response["headers"] = redact_value(kept, secrets)
        response["status"] = redact_value(response.get("status"), secrets)
        return response

    return scrub_response


class GuardedYaml:
    """vcrpy's YAML serializer, with depth and aliases checked before it builds anything."""

    serialize = staticmethod(yamlserializer.serialize)

    @staticmethod
    def deserialize(text: str) -> Any:
        return untrusted_yaml.fresh_copy(_parsed_cassette(text))


@functools.lru_cache(maxsize=2)
def _parsed_cassette(text: str) -> Any:
    """Parsed once while the text stays the same: a replay's first cell reads its cassette four times (the
    shape check, vcrpy's reading of it inside the check, vcrpy's load, the fixture metadata). Each reader
    gets its own copy: vcrpy turns response bodies into bytes in place."""
    untrusted_yaml.check_structure(text)
    return yamlserializer.deserialize(text)


def _transform(transformers: tuple[Callable[[Any], Any], ...], body: Any) -> Any:
    for transform in transformers:
        body = transform(body)
    return body


_transform_once = functools.lru_cache(maxsize=512)(_transform)


def _transformed(transformers: tuple[Callable[[Any], Any], ...], body: Any) -> Any:
    hashable = body is None or isinstance(body, bytes | str)
    return (_transform_once if hashable else _transform)(transformers, body)


def same_body(new: Request, recorded: Request) -> None:
    """vcrpy's ``body`` matcher (both bodies through the same content-type transforms, so JSON compares
    parsed and key order does not matter), each distinct body transformed once, and no text diff: replay
    compares a request with every recorded one, and the diff vcrpy builds for each pair that differs took
    most of the time (lesson 04: 5.6 ms of CPU per request, 1.2 ms without). Raises AssertionError when they differ."""
    transformers = tuple(_get_transformers(new))
    if transformers != tuple(_get_transformers(recorded)):
        transformers = ()
    first, second = read_body(new), read_body(recorded)
    with contextlib.suppress(ValueError, ExpatError):  # a body that does not parse as its type says: compared raw
        first, second = _transformed(transformers, first), _transformed(transformers, second)
    if first != second:
        raise AssertionError("the bodies differ")


def build_vcr(
    secrets: Iterable[str] = (), stable: StableValues | None = None, *, playback_only: bool = False
) -> vcr.VCR:
    """Scrubbing always; when recording, also the deterministic ids, clock and no timings (stable_record).

    ``playback_only`` (replay and the request check, which never write a cassette): the recorded answers are not
    scrubbed a second time as vcrpy loads them. They were scrubbed when recorded, and make test scans every
    committed cassette and notebook for keys (test_secrets.py); scrubbing them again on every load took
    lesson 14's first cell 0.6 s of CPU (its 1 MB of embeddings), lesson 16's 0.25 s. Requests still are:
    a live request is scrubbed the way the recorded ones were, so that the two match."""
    scrub_request, scrub_response = make_request_scrubber(secrets), make_response_scrubber(secrets)
    on_response = chain(scrub_response, stable.response) if stable else scrub_response
    recorder = vcr.VCR(
        serializer="guarded-yaml",
        match_on=MATCH_ON,
        before_record_request=chain(scrub_request, stable.request) if stable else scrub_request,
        before_record_response=None if playback_only else on_response,
        decode_compressed_response=True,
    )
    recorder.register_serializer("guarded-yaml", GuardedYaml)
    recorder.register_matcher("body", same_body)
    return recorder


def _make_strict(cassette: Cassette, notebook: str, provider: str) -> None:
    """Replay tweaks: a miss raises at once with the fix; a request whose recorded
    answers were all played (a cell run again) plays them again from the start."""
    can_play = cassette.can_play_response_for

    def strict_can_play(request: Request) -> bool:
        if can_play(request):
            return True
        if cassette.filter_request(request) is None:
            return False
        matching = [index for index, _ in cassette._responses(request)]
        if matching:
            for index in matching:
                cassette.play_counts[index] = 0
            return True
        recorded_hosts = {recorded.host for recorded in cassette.requests}
        if request.host not in recorded_hosts:
            raise CassetteMissError(
                f"回放失败：这个请求发往 {request.host}，而当前打开的是 {provider} 的录制"
                f"（{', '.join(sorted(recorded_hosts))}）。先运行对应服务商的 start_session(...) 再用它的客户端。"
            )
        raise CassetteMissError(miss_message(provider, request, cassette.requests))

    cassette.can_play_response_for = strict_can_play  # type: ignore[method-assign]
    replay_index.install(cassette, _transformed)


class CassetteShapeError(ValueError):
    """The cassette parsed, but is not what ``make record`` writes (truncated or edited)."""


def _is_text_list(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def _check_body_matches_type(number: int, headers: dict[str, Any], body: str | bytes) -> None:
    """A 2xx answer the SDKs will parse: JSON, or an event stream whose data are JSON."""
    content_type = str(_header(headers, "content-type")).lower()
    if "event-stream" not in content_type and "json" not in content_type:
        raise CassetteShapeError(f"第 {number} 条交互的 2xx 响应不是 JSON（{content_type[:40] or '没有类型'}）")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        if "event-stream" in content_type:
            for line in text.splitlines():
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    json.loads(line[5:])
        else:
            json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CassetteShapeError(f"第 {number} 条交互的响应体不是有效的 JSON") from None


def _check_interaction(number: int, interaction: Any) -> None:
    request = interaction.get("request") if isinstance(interaction, dict) else None
    response = interaction.get("response") if isinstance(interaction, dict) else None
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise CassetteShapeError(f"第 {number} 条交互缺少 request/response")
    if not isinstance(request.get("method"), str) or not str(request.get("uri", "")).startswith(("http://", "https://")):
        raise CassetteShapeError(f"第 {number} 条交互的 request 缺少 method/uri")
    if not isinstance(request.get("headers"), dict) or "body" not in request:
        raise CassetteShapeError(f"第 {number} 条交互的 request 缺少 headers/body")
    status = response.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("code"), int) or not 100 <= status["code"] <= 599:
        raise CassetteShapeError(f"第 {number} 条交互的 response 缺少 status.code")
    if not isinstance(status.get("message"), str) or not isinstance(response.get("headers"), dict):
        raise CassetteShapeError(f"第 {number} 条交互的 response 缺少 status.message/headers")
    body = response.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("string"), str | bytes):
        raise CassetteShapeError(f"第 {number} 条交互的 response 缺少 body.string")
    for side in (request, response):
        if not all(isinstance(name, str) and _is_text_list(value) for name, value in side["headers"].items()):
            raise CassetteShapeError(f"第 {number} 条交互的 headers 取值不是文字")
    if not (request["body"] is None or isinstance(request["body"], str | bytes)):
        raise CassetteShapeError(f"第 {number} 条交互的 request.body 不是文字")
    if 200 <= status["code"] < 300:
        _check_body_matches_type(number, response["headers"], body["string"])


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise CassetteShapeError("metadata 不是映射")
    if "clock" in metadata:  # Session.now() reads it back
        datetime.fromisoformat(str(metadata["clock"]))
    fixture = metadata.get("fixture")  # fixtures.METADATA_KEY; replay prints its docs_url
    if fixture is not None and not (isinstance(fixture, dict) and isinstance(fixture.get("docs_url"), str)):
        raise CassetteShapeError("metadata.fixture 缺少 docs_url")


def check_cassette(text: str) -> None:
    """Raise unless ``text`` is a whole cassette as ``make record`` writes it. vcrpy writes the
    keys sorted, so ``version`` is the last line: a truncated file has none."""
    data = GuardedYaml.deserialize(text)
    if not isinstance(data, dict):
        raise CassetteShapeError("不是 YAML 映射")
    if data.get("version") != CASSETTE_FORMAT_VERSION:
        raise CassetteShapeError(f"结尾没有 version: {CASSETTE_FORMAT_VERSION}，文件可能被截断")
    interactions = data.get("interactions")
    if not isinstance(interactions, list) or not interactions:
        raise CassetteShapeError("没有任何交互")
    for number, interaction in enumerate(interactions, start=1):
        _check_interaction(number, interaction)
    _check_metadata(data.get("metadata"))
    deserialize(text, GuardedYaml)  # and vcrpy's own reading of it


def _check_or_explain(path: Path, notebook: str, provider: str) -> None:
    shown = path.relative_to(CASSETTE_DIR.parent).as_posix()
    try:
        check_cassette(untrusted_yaml.read_bounded(path, untrusted_yaml.CASSETTE_MAX_BYTES).decode("utf-8"))
    except Exception as error:  # every way of being unreadable gets the same one-line answer
        explained = isinstance(error, CassetteShapeError | untrusted_yaml.YamlLimitError)
        reason = " ".join(str(error).split())[:80] if explained else type(error).__name__
        raise KitError(
            f"录制文件 {shown} 已损坏（{reason}）：用 git checkout -- {shown} 恢复，"
            f"或重新录制：{record_command(notebook, provider)}"
        ) from None


def open_replay(notebook: str, provider: str) -> tuple[CassetteContextDecorator, Cassette]:
    path = cassette_path(provider, notebook)
    if not path.is_file():
        raise KitError(
            f"没有 {provider} 的录制 {path.relative_to(CASSETTE_DIR.parent)}：设置该服务商的密钥实时运行，"
            f"或改用 LLM_PROVIDER=local，或录制：{record_command(notebook, provider)}"
        )
    _check_or_explain(path, notebook, provider)
    context = build_vcr(playback_only=True).use_cassette(str(path), record_mode="none")
    cassette = context.__enter__()
    _make_strict(cassette, notebook, provider)
    return context, cassette


_started_this_run: dict[Path, StableValues] = {}
"""Cassettes this kernel has begun recording, with their substitutions (a later section appends)."""


def open_recorder(
    notebook: str, provider: str, secrets: Iterable[str]
) -> tuple[CassetteContextDecorator, Cassette]:
    """Start a fresh cassette (written when the context exits). A notebook that opens the
    same cassette again in the same run (a later section) appends to it."""
    path = cassette_path(provider, notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path not in _started_this_run:
        path.unlink(missing_ok=True)
        _started_this_run[path] = StableValues(f"{provider}/{notebook}")
    context = build_vcr(secrets, _started_this_run[path]).use_cassette(str(path), record_mode="all")
    with while_vcr_reads_the_transports():  # one exchange at a time (one_at_a_time.py says why)
        cassette = context.__enter__()
    return context, cassette


def cassette_metadata(path: Path) -> dict[str, Any]:
    """The values a recording stored beside its interactions (clock, fixture spec)."""
    _requests, _responses, *metadata = FilesystemPersister.load_cassette(path, GuardedYaml)
    return metadata[0] if metadata else {}
