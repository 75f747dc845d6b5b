"""collect() on real recorded streams, and on the documented shapes of the cloud providers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openai.types.chat import ChatCompletionChunk

from tutorial_kit.recording import cassette_path
from tutorial_kit.streaming import collect


def recorded_streams() -> list[list[ChatCompletionChunk]]:
    """Every SSE response recorded for lesson 05 on the local server, parsed as the SDK does."""
    data = yaml.safe_load(cassette_path("local", "05_streaming").read_text())
    streams = []
    for interaction in data["interactions"]:
        response = interaction["response"]
        if "text/event-stream" not in str(response["headers"].get("content-type")):
            continue
        lines = [line[len("data: ") :] for line in response["body"]["string"].splitlines() if line.startswith("data: ")]
        streams.append([ChatCompletionChunk.model_validate(json.loads(line)) for line in lines if line != "[DONE]"])
    return streams


def test_recorded_local_streams_are_collected_whole() -> None:
    streams = recorded_streams()
    assert len(streams) >= 5
    for chunks in streams:
        pieces: list[str] = []
        result = collect(chunks, on_text=pieces.append)
        expected = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert result.text == expected == "".join(pieces)
        assert result.finish_reason in {"stop", "length"}
        assert result.usage is None  # the local server ignores include_usage
        assert result.chunks == len(chunks)


def chunk(content: str | None, finish: str | None = None, usage: dict[str, int] | None = None, choices: bool = True):
    body: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    body["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": finish}] if choices else []
    body["usage"] = usage
    return ChatCompletionChunk.model_validate(body)


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


@pytest.mark.parametrize(
    "chunks",
    [
        # OpenAI and DashScope with include_usage: a last chunk with empty choices (provider-facts A6, B7).
        [chunk("Hel"), chunk("lo", "stop"), chunk(None, usage=USAGE, choices=False)],
        # Zhipu: usage on the last content chunk, with finish_reason (provider-facts C5).
        [chunk("Hel"), chunk("lo", "stop", usage=USAGE)],
    ],
    ids=["usage-chunk-without-choices", "usage-on-last-chunk"],
)
def test_usage_in_either_documented_place(chunks: list[ChatCompletionChunk]) -> None:
    result = collect(chunks)
    assert (result.text, result.finish_reason) == ("Hello", "stop")
    assert result.usage.total_tokens == 7
    assert result.content_chunks == 2
