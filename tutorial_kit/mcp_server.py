"""The course's own MCP server (lesson 15): tools over the course's data, spoken over stdio.

A client starts it as ``python -m tutorial_kit.mcp_server`` and talks JSON-RPC on its stdin and
stdout (the official ``mcp`` SDK's FastMCP). It answers the same call with the same result and
never opens a network connection, so lesson 15 runs it for real in replay mode too.

Tools: ``get_weather`` (lesson 07's table), ``search_docs`` (lesson 08's documents plus a file of
community notes that anyone could have written, one of which carries a prompt injection),
``calculate`` (arithmetic only, parsed, never ``eval``) and ``send_message`` (the one side effect:
it appends to an in-memory outbox, readable as the resource ``outbox://sent``, and needs a token
that only the server's environment holds).
"""

from __future__ import annotations

import ast
import json
import operator
import os
import warnings
from collections.abc import Callable
from typing import Annotated, Any, Literal

# pydantic-settings 2.16 warns about FastMCP's own settings class on import; the warning would land
# in the client's error log (a lesson's output) and says nothing about this server.
warnings.filterwarnings("ignore", message="Field 'lifespan' has an incomplete definition")

# First, before the SDK: importing the machinery package skips jsonschema's IRI grammar (machinery/start_up.py),
# 0.9 of the 1.5 s this process took to start, paid by every `async with stdio_client(...)` in lesson 15.
from .machinery.environment import PROJECT_ROOT  # noqa: E402, I001

from mcp.server.fastmcp import FastMCP  # noqa: E402
from mcp.types import ToolAnnotations  # noqa: E402
from pydantic import Field  # noqa: E402

from .local_search import Document, load_corpus, search  # noqa: E402

WEATHER_PATH = PROJECT_ROOT / "data" / "weather.json"
NOTES_PATH = PROJECT_ROOT / "data" / "community_notes.json"
TOKEN_ENV = "COURSE_OUTBOX_TOKEN"
"""The outbox credential: given to the server process only, never to the model."""

MAX_EXPRESSION = 200
MAX_EXPONENT = 100

City = Literal["Beijing", "Shanghai", "Guangzhou", "Hangzhou", "Chengdu"]

server = FastMCP("course-tools", log_level="WARNING")
_outbox: list[dict[str, Any]] = []


def _documents() -> list[tuple[Document, str]]:
    """Lesson 08's documents (written by the course) and the community notes (anyone's)."""
    course = [(doc, "course") for doc in load_corpus()]
    notes = [(doc, "community") for doc in load_corpus(NOTES_PATH)]
    return course + notes


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def get_weather(city: Annotated[City, Field(description="City name in English")]) -> dict[str, Any]:
    """Current weather in a Chinese city (a fixed teaching table, not live data)."""
    record = json.loads(WEATHER_PATH.read_text(encoding="utf-8"))[city]
    return {"city": city, "condition": record["condition"], "celsius": record["celsius"]}


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=True))
def search_docs(
    query: Annotated[str, Field(description="What to search for", max_length=80)],
    limit: Annotated[int, Field(ge=1, le=5, description="How many results")] = 2,
) -> dict[str, Any]:
    """Search the course documents and community notes. Returns the best matches with their text."""
    pairs = _documents()
    source_of = {doc.id: source for doc, source in pairs}
    hits = search(query, [doc for doc, _ in pairs], limit=limit)
    results = [
        {"id": hit.document.id, "source": source_of[hit.document.id], "title": hit.document.title,
         "content": hit.document.content}
        for hit in hits
    ]  # fmt: skip
    return {"query": query, "results": results}


_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        return _OPERATORS[type(node.op)](left, right)
    raise ValueError(f"only numbers and + - * / // % ** ( ) are allowed, not {type(node).__name__}")


def calculate_expression(expression: str) -> float:
    """Arithmetic on numbers only; anything else (names, calls, attributes) is refused."""
    if len(expression) > MAX_EXPRESSION:
        raise ValueError(f"expression longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"not an arithmetic expression: {error.msg}") from None
    try:
        value = _evaluate(tree)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    return round(value, 10) if isinstance(value, float) else value


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def calculate(expression: Annotated[str, Field(description="Arithmetic such as (12 + 30) * 2")]) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly (numbers and + - * / // % ** only)."""
    return {"expression": expression, "value": calculate_expression(expression)}


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True))
def send_message(
    to: Annotated[str, Field(description="Recipient e-mail address", max_length=80)],
    text: Annotated[str, Field(description="Message text", max_length=500)],
) -> dict[str, Any]:
    """Send a message (a side effect: it leaves the machine in a real deployment)."""
    if not os.environ.get(TOKEN_ENV):
        raise ValueError(f"outbox is not configured: the server has no {TOKEN_ENV}")
    _outbox.append({"to": to, "text": text})
    return {"sent": True, "message_number": len(_outbox), "to": to}


@server.resource("outbox://sent", mime_type="application/json")
def sent_messages() -> str:
    """Every message this server process has sent (the demo's record of side effects)."""
    return json.dumps(_outbox, ensure_ascii=False)


if __name__ == "__main__":
    server.run("stdio")
