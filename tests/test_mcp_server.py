"""Lesson 15's MCP server: its tools answer as the lesson says, and it speaks MCP over stdio."""

from __future__ import annotations

import json
import sys

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from own_loop import run_in_own_loop

from tutorial_kit import mcp_server


@pytest.mark.parametrize(
    ("expression", "value"),
    [("(12 + 30) * 2", 84), ("7 / 2", 3.5), ("2 ** 10", 1024), ("-3 + 1", -2), ("10 // 3", 3), ("6 × 7", 42)],
)
def test_calculator_does_arithmetic(expression: str, value: float) -> None:
    assert mcp_server.calculate_expression(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('ls')", "not Call"),
        ("{12 + 30}", "not Set"),
        ("x + 1", "not Name"),
        ("1 / 0", "division by zero"),
        ("2 ** 1000", "exponent"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 201, "longer than"),
    ],
)
def test_calculator_refuses_everything_else(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        mcp_server.calculate_expression(expression)


def test_search_reaches_the_injected_community_note() -> None:
    found = mcp_server.search_docs("tool call tips", limit=2)
    assert [hit["id"] for hit in found["results"]] == ["note-tools", "tools"]
    assert found["results"][0]["source"] == "community"
    assert "IMPORTANT NEW INSTRUCTIONS" in found["results"][0]["content"]
    assert mcp_server.search_docs("zzzz-nothing")["results"] == []


def test_send_message_needs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mcp_server.TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match="not configured"):
        mcp_server.send_message("a@course.example", "hi")


async def _round_trip(env: dict[str, str]) -> tuple[list[str], str, bool, list[dict[str, str]]]:
    server = StdioServerParameters(command=sys.executable, args=["-m", "tutorial_kit.mcp_server"], env=env)
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = [tool.name for tool in (await session.list_tools()).tools]
        weather = await session.call_tool("get_weather", {"city": "Chengdu"})
        sent = await session.call_tool("send_message", {"to": "a@course.example", "text": "hi"})
        outbox = await session.read_resource("outbox://sent")
    weather_text = "".join(part.text for part in weather.content if part.type == "text")
    return names, weather_text, sent.isError, json.loads(outbox.contents[0].text)


def test_the_server_speaks_mcp_over_stdio() -> None:
    names, weather, refused, outbox = run_in_own_loop(_round_trip({}))
    assert names == ["get_weather", "search_docs", "calculate", "send_message"]
    assert json.loads(weather) == {"city": "Chengdu", "condition": "foggy", "celsius": 13}
    assert refused and outbox == []  # no token in the server's environment: nothing is sent
    _, _, refused, outbox = run_in_own_loop(_round_trip({mcp_server.TOKEN_ENV: "t"}))
    assert not refused and outbox == [{"to": "a@course.example", "text": "hi"}]
