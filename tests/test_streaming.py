"""collect() on real recorded streams, and on the documented shapes of the cloud providers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openai.types.chat import ChatCompletionChunk

from tutorial_kit.machinery.recording import cassette_path
from tutorial_kit.streaming import assemble_tool_calls, collect


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
        # llama-server sends a usage chunk only when the request asked for it (include_usage)
        assert result.usage == next((c.usage for c in reversed(chunks) if c.usage is not None), None)
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


def tool_chunk(index: int, call_id: str | None, name: str | None, arguments: str) -> ChatCompletionChunk:
    function = {"name": name, "arguments": arguments}
    delta = {"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]}
    body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    return ChatCompletionChunk.model_validate({**body, "choices": [{"index": 0, "delta": delta}]})


def test_tool_call_arguments_are_joined_and_names_kept_once() -> None:
    # OpenAI style: id and name once, then argument pieces; two calls interleaved by index.
    openai_style = [
        tool_chunk(0, "call_a", "get_weather", ""),
        tool_chunk(1, "call_b", "get_time", ""),
        tool_chunk(0, None, None, '{"city": '),
        tool_chunk(1, None, None, "{}"),
        tool_chunk(0, None, None, '"Beijing"}'),
    ]
    # llama.cpp style: the name repeated in every chunk.
    llama_style = [tool_chunk(0, "call_x", "get_weather", piece) for piece in ['{"ci', 'ty": "Be', 'ijing"}']]
    first, second = assemble_tool_calls(openai_style)
    assert (first.id, first.name, first.arguments) == ("call_a", "get_weather", '{"city": "Beijing"}')
    assert (second.id, second.name, second.arguments) == ("call_b", "get_time", "{}")
    (only,) = assemble_tool_calls(llama_style)
    assert (only.name, json.loads(only.arguments)) == ("get_weather", {"city": "Beijing"})


def thinking_chunk(reasoning: str | None, content: str | None, finish: str | None = None) -> ChatCompletionChunk:
    # DashScope and Zhipu: reasoning_content is a field the SDK's types do not declare.
    delta = {"role": "assistant", "content": content, "reasoning_content": reasoning}
    body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    return ChatCompletionChunk.model_validate(
        {**body, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    )


def test_reasoning_is_kept_apart_from_the_answer() -> None:
    chunks = [
        thinking_chunk("先想", None),
        thinking_chunk("一想。", ""),
        thinking_chunk(None, "答案"),
        thinking_chunk("", "是 4", "stop"),
    ]
    answer: list[str] = []
    thinking: list[str] = []
    result = collect(chunks, on_text=answer.append, on_reasoning=thinking.append)
    assert result.text == "答案是 4" == "".join(answer)
    assert result.reasoning == "先想一想。" == "".join(thinking)
    assert (result.reasoning_chunks, result.content_chunks) == (2, 2)
    assert result.first_answer_chunk == 3
    assert result.finish_reason == "stop"


def test_a_stream_without_thinking_has_no_reasoning() -> None:
    result = collect([chunk("Hel"), chunk("lo", "stop")])
    assert (result.reasoning, result.reasoning_chunks, result.first_answer_chunk) == ("", 0, 1)
    assert collect([chunk(None, "length")]).first_answer_chunk is None
