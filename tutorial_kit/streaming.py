"""One loop for every provider's stream: text, finish reason and token usage.

Usage arrives differently: OpenAI and DashScope send it (with ``include_usage``) in an
extra last chunk whose ``choices`` is empty; Zhipu puts it on the last content chunk;
llama.cpp's llama-server sends it like OpenAI. ``collect`` accepts both.

Thinking models (DashScope ``enable_thinking``, Zhipu ``thinking``) stream their reasoning
as ``delta.reasoning_content`` before the answer. It is not in the SDK's types, so it is
read with ``getattr`` and kept in ``reasoning``, apart from ``text``: the answer a program
should use never contains the thinking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class StreamResult:
    text: str = ""
    finish_reason: str | None = None
    usage: Any = None
    chunks: int = 0
    content_chunks: int = 0
    reasoning: str = ""
    reasoning_chunks: int = 0
    first_answer_chunk: int | None = None
    """1-based number of the chunk that brought the first answer text (None: no answer)."""


def collect(
    stream: Iterable[Any],
    on_text: Callable[[str], None] | None = None,
    on_reasoning: Callable[[str], None] | None = None,
) -> StreamResult:
    """Read a chat-completions stream to the end; call ``on_text`` with each answer piece
    and ``on_reasoning`` with each thinking piece."""
    result = StreamResult()
    pieces: list[str] = []
    thoughts: list[str] = []
    for chunk in stream:
        result.chunks += 1
        if getattr(chunk, "usage", None):
            result.usage = chunk.usage
        if not chunk.choices:  # the usage-only chunk
            continue
        choice = chunk.choices[0]
        thought = getattr(choice.delta, "reasoning_content", None)
        if thought:
            thoughts.append(thought)
            result.reasoning_chunks += 1
            if on_reasoning:
                on_reasoning(thought)
        piece = getattr(choice.delta, "content", None)
        if piece:
            pieces.append(piece)
            result.content_chunks += 1
            if result.first_answer_chunk is None:
                result.first_answer_chunk = result.chunks
            if on_text:
                on_text(piece)
        if choice.finish_reason:
            result.finish_reason = choice.finish_reason
    result.text = "".join(pieces)
    result.reasoning = "".join(thoughts)
    return result


def print_piece(piece: str) -> None:
    """Print as tokens arrive (flush, so Jupyter shows each piece at once)."""
    print(piece, end="", flush=True)


@dataclass
class ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: str = ""


def assemble_tool_calls(chunks: Iterable[Any]) -> list[ToolCallParts]:
    """Put streamed tool calls back together, keyed by ``index``.

    Arguments arrive in pieces and are concatenated. The id and name arrive once on
    OpenAI but are repeated in every chunk by llama.cpp, so the first one seen is kept
    rather than concatenated."""
    calls: dict[int, ToolCallParts] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, ToolCallParts())
            call.id = call.id or (delta.id or "")
            if delta.function is not None:
                call.name = call.name or (delta.function.name or "")
                call.arguments += delta.function.arguments or ""
    return [calls[index] for index in sorted(calls)]
