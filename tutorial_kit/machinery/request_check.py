"""Check mode inside the kernel (``LLM_MODE=check``, set by ``make check-requests``).

Every request a lesson sends is written to a log (``TUTORIAL_REQUEST_LOG``) *before* anything
answers it: cell number as Lab shows it, provider (by host), method, URL, JSON body, and which
key variables' values appear in its headers (names only, never values). Then it is answered
from a local recording of the same lesson, so the notebook runs on: first an interaction with
the same endpoint, stream flag and messages, else the next unplayed one of that endpoint and
stream flag, else the last one of that kind. An embeddings batch the recording never sent whole
(a cloud provider's batch of 10, recorded one text at a time on the local server) gets one
recorded vector per text. Nothing leaves the machine, nothing is written under cassettes/ or
notebooks/. A request no recording can answer is still logged (and so checked); the cell then
stops with one line saying so.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vcr.cassette import Cassette, CassetteContextDecorator
from vcr.request import Request

from ..errors import CassetteMissError
from ..providers import PROVIDERS
from .recording import build_vcr, cassette_path
from .request_rules import endpoint_of, provider_for_host

LOG_ENV = "TUTORIAL_REQUEST_LOG"
CHECK_API_KEY = "sk-check-no-network"
"""What the SDK gets in check mode when the learner has no key for the provider."""

# Positions played per recording file, kept across sessions that reopen the same recording.
_played: dict[Path, set[int]] = {}
_registered: list[object] = []


def answer_source(notebook: str, provider: str, explicit: bool) -> Path:
    """A section that names its provider answers from that provider's recording (fixtures);
    everything else from the lesson's local recording."""
    own = cassette_path(provider, notebook)
    return own if explicit and own.is_file() else cassette_path("local", notebook)


def _json_body(body: Any) -> Any:
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    if not body:
        return None
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None


def _key_names_in(headers: dict[str, Any]) -> list[str]:
    """Which key variables' values this request carries in its headers (names only)."""
    text = " ".join(str(value) for value in headers.values())
    names = [p.key_env for p in PROVIDERS.values() if p.key_env] + ["ZAI_API_KEY", "LOCAL_API_KEY"]
    return sorted({name for name in names if os.environ.get(name) and os.environ[name] in text})


def _cell_number() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    count = getattr(shell, "execution_count", None) if shell is not None else None
    return count - 1 if isinstance(count, int) else None  # IPython counts the running cell already


def _log(entry: dict[str, Any]) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _kind(method: str, url: str, body: Any) -> tuple[str, str, bool]:
    stream = bool(body.get("stream")) if isinstance(body, dict) else False
    return method.upper(), endpoint_of(url), stream


def _conversation(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("messages", "input", "prompt"):
        if key in body:
            return json.dumps(body[key], sort_keys=True, ensure_ascii=False)
    return None


def _choose(cassette: Cassette, path: Path, request: Request, body: Any) -> int | None:
    played = _played.setdefault(path, set())
    wanted = _kind(request.method, request.uri, body)
    same_kind = [
        index for index, (stored, _) in enumerate(cassette.data)
        if _kind(stored.method, stored.uri, _json_body(stored.body)) == wanted
    ]  # fmt: skip
    if not same_kind:
        return None
    conversation = _conversation(body)
    for index in same_kind:
        stored = _conversation(_json_body(cassette.data[index][0].body))
        if index not in played and conversation and stored == conversation:
            return index
    unplayed = [index for index in same_kind if index not in played]
    return unplayed[0] if unplayed else same_kind[-1]


def _embedding_texts(body: Any) -> list[str] | None:
    """The texts of an embeddings request (a string or a list of strings), else None."""
    texts = body.get("input") if isinstance(body, dict) else None
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, list) and texts and all(isinstance(text, str) for text in texts):
        return texts
    return None


def _assembled_embeddings(cassette: Cassette, body: Any) -> dict[str, Any] | None:
    """A batch the recording never sent whole (a cloud provider's batch of 10, recorded one by one on the local
    server): one vector per input, each from a recorded interaction that embedded the same text, so the lesson
    computes on with the shapes it expects. None when a text was never embedded as floats."""
    texts = _embedding_texts(body)
    if texts is None or len(texts) < 2 or body.get("encoding_format", "float") != "float":
        return None
    found: dict[str, tuple[list[float], int]] = {}
    template = None
    for stored, response in cassette.data:
        stored_texts = _embedding_texts(_json_body(stored.body))
        answer = _json_body((response.get("body") or {}).get("string"))
        if not stored_texts or not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            continue
        rows = {item.get("index"): item.get("embedding") for item in answer["data"] if isinstance(item, dict)}
        if len(rows) != len(stored_texts):
            continue
        tokens = (answer.get("usage") or {}).get("prompt_tokens", 0) // len(stored_texts)
        for position, text in enumerate(stored_texts):
            if isinstance(rows.get(position), list):
                found.setdefault(text, (rows[position], tokens))
                template = template or (response, answer)
    if template is None or any(text not in found for text in texts):
        return None
    response, answer = template
    tokens = sum(found[text][1] for text in texts)
    data = [{"object": "embedding", "index": i, "embedding": found[text][0]} for i, text in enumerate(texts)]
    assembled = {**answer, "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return {**response, "body": {"string": json.dumps(assembled).encode()}}


def _make_checking(cassette: Cassette, path: Path, notebook: str, session_provider: str) -> None:
    passthrough = cassette.filter_request  # the recorder's scrubber: None for loopback demo addresses

    def can_play(request: Request) -> bool:
        body = _json_body(request.body)
        netloc = urlsplit(request.uri).netloc
        entry = {
            "notebook": notebook,
            "cell": _cell_number(),
            "provider": provider_for_host(netloc) or session_provider,
            "method": request.method,
            "url": request.uri,
            "body": body,
            "keys_in_headers": _key_names_in(dict(request.headers)),
        }
        if passthrough(request) is None:
            _log({**entry, "answered": "passthrough"})
            return False
        index = _choose(cassette, path, request, body)
        _log({**entry, "answered": None if index is None else index})
        if index is None:
            raise CassetteMissError(
                f"检查模式：请求 {request.method} {endpoint_of(request.uri)} 已按 {entry['provider']} 的规则检查，"
                f"但 {path.name} 里没有同类交互可用来回答，这个单元格到此为止。"
            )
        cassette._check_next = index  # type: ignore[attr-defined]
        stored_texts = _embedding_texts(_json_body(cassette.data[index][0].body))
        wanted = _embedding_texts(body)
        cassette._check_assembled = (  # type: ignore[attr-defined]
            _assembled_embeddings(cassette, body) if wanted and stored_texts != wanted else None
        )
        return True

    def play(request: Request) -> Any:
        index = cassette._check_next  # type: ignore[attr-defined]
        _played.setdefault(path, set()).add(index)
        assembled = cassette._check_assembled  # type: ignore[attr-defined]
        return assembled if assembled is not None else cassette.data[index][1]

    cassette.can_play_response_for = can_play  # type: ignore[method-assign]
    cassette.play_response = play  # type: ignore[method-assign]


KIT_DIR = Path(__file__).resolve().parents[1]
MODULES_SUFFIX = ".modules.json"
"""Next to the log: the kit's modules the lesson's kernel had loaded when it exited (check_requests.py keys its
cache on them, so a change to a module no lesson loads does not make every lesson run again)."""


def _write_loaded_kit_modules(log: str) -> None:
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    kit = sorted(
        str(Path(file).resolve().relative_to(KIT_DIR)) for file in files
        if file and Path(file).resolve().is_relative_to(KIT_DIR)
    )  # fmt: skip
    Path(log + MODULES_SUFFIX).write_text(json.dumps(kit), encoding="utf-8")


def open_check(notebook: str, provider: str, explicit: bool) -> tuple[CassetteContextDecorator, Cassette]:
    log = os.environ.get(LOG_ENV)
    if log and _write_loaded_kit_modules not in _registered:
        atexit.register(_write_loaded_kit_modules, log)
        _registered.append(_write_loaded_kit_modules)
    path = answer_source(notebook, provider, explicit)
    context = build_vcr(playback_only=True).use_cassette(
        str(path), record_mode="none", allow_playback_repeats=True
    )
    cassette = context.__enter__()
    _make_checking(cassette, path, notebook, provider)
    return context, cassette
