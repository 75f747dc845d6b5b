"""What a cassette holds, read back as requests and parsed responses (JSON or a stream
of server-sent events): for make rehearse's token counts and its drift report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .untrusted_yaml import safe_load

NOT_JSON = object()


@dataclass(frozen=True)
class Interaction:
    method: str
    path: str
    query: str
    body: Any
    """The request body parsed as JSON, or its text when it is not JSON."""
    status: int
    payloads: tuple[Any, ...]
    """One parsed JSON value for an ordinary response; one per ``data:`` event of a stream
    (``[DONE]`` left out); the raw text when the body is neither."""
    streamed: bool

    def match_key(self) -> str:
        """Method, path, query and body: what must be the same for two runs to have made
        the same request. The host is left out, so a server on another port still matches."""
        body = self.body if isinstance(self.body, str) else json.dumps(self.body, sort_keys=True, ensure_ascii=False)
        return f"{self.method} {self.path}?{self.query} {body}"

    def generates_text(self) -> bool:
        """A successful generation request: the kind whose response should carry ``usage``."""
        generating = self.path.endswith(("/chat/completions", "/completions", "/responses", "/embeddings"))
        return self.method == "POST" and generating and 200 <= self.status < 300

    def label(self) -> str:
        """A short name for the request in a report."""
        body = self.body if isinstance(self.body, dict) else {}
        parts = [f"{self.method} {self.path}"]
        if body.get("stream"):
            parts.append("stream")
        if body.get("model"):
            parts.append(str(body["model"]))
        text = _first_text(body)
        if text:
            parts.append(f"「{text[:30]}」")
        return " ".join(parts)


def _first_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        if isinstance(content, str):
            return " ".join(content.split())
        if isinstance(content, list):
            texts = [part.get("text", "") for part in content if isinstance(part, dict)]
            return " ".join(" ".join(texts).split())
    for name in ("input", "prompt"):
        if isinstance(body.get(name), str):
            return " ".join(body[name].split())
    return ""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return NOT_JSON


def _stream_events(text: str) -> list[Any] | None:
    """The JSON events of a server-sent-event body, or None if it is not one."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
        if not data or data == "[DONE]":
            continue
        parsed = _parse_json(data)
        events.append(data if parsed is NOT_JSON else parsed)
    return events or None


def parse_interaction(raw: dict[str, Any]) -> Interaction:
    request, response = raw["request"], raw["response"]
    url = urlsplit(request["uri"])
    request_text = _text(request.get("body"))
    request_body = _parse_json(request_text) if request_text else None
    response_text = _text(response.get("body", {}).get("string"))
    content_type = " ".join(
        str(value) for name, value in response.get("headers", {}).items() if name.lower() == "content-type"
    )
    parsed = _parse_json(response_text)
    events = _stream_events(response_text) if parsed is NOT_JSON else None
    streamed = events is not None and ("event-stream" in content_type or response_text.lstrip().startswith("data:"))
    if streamed:
        payloads: tuple[Any, ...] = tuple(events or ())
    else:
        payloads = (response_text if parsed is NOT_JSON else parsed,)
    return Interaction(
        method=request["method"].upper(),
        path=url.path,
        query=url.query,
        body=request_text if request_body is NOT_JSON else request_body,
        status=int(response.get("status", {}).get("code", 0)),
        payloads=payloads,
        streamed=streamed,
    )


def load_cassette_text(text: str) -> tuple[list[Interaction], dict[str, Any]]:
    """The interactions and the metadata (clock, fixture spec) of a cassette's YAML."""
    data = safe_load(text) or {}
    interactions = [parse_interaction(raw) for raw in data.get("interactions") or []]
    return interactions, data.get("metadata") or {}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


def usage_of(interaction: Interaction) -> Usage | None:
    """The ``usage`` the server reported (chat/completions names or the Responses API's
    input/output names); for a stream, the last event that carries one. None if absent."""
    found = None
    for payload in interaction.payloads:
        if not isinstance(payload, dict):
            continue
        usage = payload.get("usage")
        if usage is None and isinstance(payload.get("response"), dict):
            usage = payload["response"].get("usage")  # Responses API stream: response.completed
        if isinstance(usage, dict):
            found = usage
    if found is None:
        return None
    prompt = found.get("prompt_tokens", found.get("input_tokens")) or 0
    completion = found.get("completion_tokens", found.get("output_tokens")) or 0
    return Usage(int(prompt), int(completion))


def model_of(interaction: Interaction) -> str:
    body = interaction.body if isinstance(interaction.body, dict) else {}
    return str(body.get("model") or "")
