"""``make check-local``: one real request per feature the lessons rely on, against the running server.

Not part of ``make test`` (that needs no server). Prints a table and exits non-zero if a row fails.
Reads ``LOCAL_BASE_URL`` / ``LOCAL_API_KEY`` like the notebooks, so it also checks a room server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jsonschema
from dotenv import load_dotenv
from openai import BadRequestError, OpenAI

from ..providers import PROVIDERS

MODEL = "smollm2-135m"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in an IANA time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "enum": ["Asia/Shanghai", "Europe/Paris"]}},
            "required": ["timezone"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris and in Beijing?"}]


@dataclass
class Row:
    feature: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    pass


def _expect(condition: bool, detail: str) -> None:
    if not condition:
        raise CheckFailed(detail)


def _valid_calls(message, names: set[str]) -> str:
    calls = message.tool_calls or []
    _expect(bool(calls), f"没有工具调用，回答了文字：{(message.content or '')[:60]!r}")
    for call in calls:
        _expect(call.function.name in names, f"调用了 {call.function.name}")
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    return "；".join(f"{c.function.name}({c.function.arguments})" for c in calls)


def check_chat(client: OpenAI) -> str:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}], temperature=0, max_tokens=20
    )
    _expect(bool(reply.choices[0].message.content), "空回答")
    return repr(reply.choices[0].message.content[:40])


def check_stream_usage(client: OpenAI) -> str:
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Count to three."}], max_tokens=20,
            temperature=0, stream=True, stream_options={"include_usage": True},
        )
    )  # fmt: skip
    last = chunks[-1]
    _expect(last.usage is not None and not last.choices, "最后一块没有 usage")
    return f"{len(chunks)} 块，最后一块 choices=[]，usage={last.usage.total_tokens} tokens"


def check_json_schema(client: OpenAI) -> str:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population_millions": {"type": "number"}},
        "required": ["city", "population_millions"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Give the largest city of France as JSON."}],
        temperature=0, max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": schema}},
    )  # fmt: skip
    content = reply.choices[0].message.content or ""
    jsonschema.validate(json.loads(content), schema)
    return content


def _tools_request(client: OpenAI, tool_choice, **extra):
    return client.chat.completions.create(
        model=MODEL, messages=ASK_WEATHER, tools=TOOLS, tool_choice=tool_choice, temperature=0, max_tokens=80, **extra
    ).choices[0]


def check_tool_auto(client: OpenAI) -> str:
    choice = _tools_request(client, "auto")
    what = "工具调用" if choice.message.tool_calls else "文字回答"
    return f"200，模型自行选择了{what}（finish_reason={choice.finish_reason}）"


def check_tool_none(client: OpenAI) -> str:
    choice = _tools_request(client, "none")
    _expect(not choice.message.tool_calls, "none 时仍有工具调用")
    return f"文字回答 {(choice.message.content or '')[:40]!r}"


def check_tool_required(client: OpenAI) -> str:
    choice = _tools_request(client, "required", parallel_tool_calls=False)
    _expect(choice.finish_reason == "tool_calls", f"finish_reason={choice.finish_reason}")
    calls = _valid_calls(choice.message, set(SCHEMAS))
    count = len(choice.message.tool_calls or [])
    _expect(count == 1, f"parallel_tool_calls=false 却有 {count} 个调用：{calls}")
    return calls


def check_tool_named(client: OpenAI) -> str:
    choice = _tools_request(client, {"type": "function", "function": {"name": "get_time"}}, parallel_tool_calls=False)
    calls = _valid_calls(choice.message, {"get_time"})
    count = len(choice.message.tool_calls or [])
    _expect(count == 1, f"指定函数却有 {count} 个调用：{calls}")
    return calls


def check_parallel_tools(client: OpenAI) -> str:
    choice = _tools_request(client, "required", parallel_tool_calls=True)
    calls = _valid_calls(choice.message, set(SCHEMAS))
    count = len(choice.message.tool_calls or [])
    _expect(count >= 2, f"只有 {count} 个调用：{calls}")
    return f"{count} 个调用：{calls}"


def check_n2(client: OpenAI) -> str:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a fruit."}], n=2, temperature=1, max_tokens=10
    )
    _expect(len(reply.choices) == 2, f"{len(reply.choices)} 个 choices")
    return "2 个 choices"


def check_completions(client: OpenAI) -> str:
    reply = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
    return repr(reply.choices[0].text[:40])


def check_models(client: OpenAI) -> str:
    ids = [model.id for model in client.models.list()]
    _expect(MODEL in ids, f"列表里没有 {MODEL}：{ids}")
    return ", ".join(ids)


def check_responses(client: OpenAI) -> str:
    response = client.responses.create(model=MODEL, input="Say hello.", max_output_tokens=20, temperature=0)
    _expect(bool(response.output_text), "output_text 为空")
    return f"output_text={response.output_text[:30]!r}，usage.input_tokens={response.usage.input_tokens}"


def check_responses_named_tool(client: OpenAI) -> str:
    """Responses' own form of a named tool_choice, {"type": "function", "name": N}."""
    function = TIME_TOOL["function"]
    response = client.responses.create(
        model=MODEL,
        input="What time is it in Tokyo?",
        tools=[{"type": "function", **function}],
        tool_choice={"type": "function", "name": function["name"]},
        parallel_tool_calls=False,
        max_output_tokens=80,
        temperature=0,
    )
    calls = [item for item in response.output if item.type == "function_call"]
    _expect(len(calls) == 1, f"应有 1 个 function_call：{[item.type for item in response.output]}")
    for call in calls:
        _expect(call.name == function["name"], f"调用了 {call.name}")
        jsonschema.validate(json.loads(call.arguments), function["parameters"])
    return "；".join(f"{call.name}({call.arguments})" for call in calls)


def check_responses_stream(client: OpenAI) -> str:
    events = [
        event.type
        for event in client.responses.create(
            model=MODEL, input="Say hello.", max_output_tokens=20, temperature=0, stream=True
        )
    ]
    _expect("response.output_text.delta" in events and events[-1] == "response.completed", f"事件：{set(events)}")
    return f"{len(events)} 个事件，含 output_text.delta，以 response.completed 结束"


def check_context_overflow(client: OpenAI) -> str:
    try:
        too_long = [{"role": "user", "content": "hello " * 6000}]
        client.chat.completions.create(model=MODEL, messages=too_long, max_tokens=5)
    except BadRequestError as error:
        return f"400：{str(error.message)[:70]}"
    raise CheckFailed("超长提示词没有得到 400")


LONG_PROMPT = (
    "You are a careful assistant for a cooking class. The class has twelve students, three ovens and one "
    "large fridge. Each student bakes one loaf of bread and one tray of biscuits. An oven holds four loaves "
    "or six trays at a time, and every bake takes forty minutes. Describe, in two sentences, how the teacher "
    "should plan the ovens so that everyone finishes before lunch."
)
"""Over 64 prompt tokens: with prompt caching on, a resent prompt crossed the CPU attention kernel's
threshold and could flip near-tie tokens (issue 23). The server now runs with --no-cache-prompt."""


def _answer(client: OpenAI, content: str) -> str:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], temperature=0, max_tokens=60
    )
    return reply.choices[0].message.content or ""


def check_deterministic(client: OpenAI) -> str:
    """The same request gets the same bytes: cold, resent at once (warm), after another request that
    shares most of its prompt, and four at once."""
    prompt_tokens = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": LONG_PROMPT}], temperature=0, max_tokens=1
    ).usage.prompt_tokens
    _expect(prompt_tokens >= 64, f"提示词只有 {prompt_tokens} 个 token，到不了 64 的阈值")
    cold = _answer(client, LONG_PROMPT)
    warm = _answer(client, LONG_PROMPT)
    _answer(client, LONG_PROMPT.replace("lunch", "dinner"))
    after_other = _answer(client, LONG_PROMPT)
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda _: _answer(client, LONG_PROMPT), range(4)))
    answers = [cold, warm, after_other, *together]
    differing = sum(answer != cold for answer in answers)
    _expect(differing == 0, f"{differing} / {len(answers)} 个回答与第一次不同")
    return f"{prompt_tokens} 个 token 的提示词：冷启动、再发一次、隔一个请求、4 个并发，共 {len(answers)} 次逐字节相同"


def check_embeddings(client: OpenAI) -> str:
    """One vector per input; the same request gives the same vector bit for bit. A text batched behind
    another comes out slightly different from the same text alone (measured cosine about 0.9985: the
    batch takes other matrix kernels), so the comparison is reported, not required to be exact."""
    texts = ["hello", "今天天气很好"]
    first, again = (client.embeddings.create(model=MODEL, input=texts) for _ in range(2))
    _expect(len(first.data) == 2, f"2 个输入得到 {len(first.data)} 个向量")
    _expect([d.embedding for d in first.data] == [d.embedding for d in again.data], "同一请求两次向量不同")
    alone = client.embeddings.create(model=MODEL, input=texts[1]).data[0].embedding
    batched = first.data[1].embedding
    dot = sum(x * y for x, y in zip(alone, batched, strict=True))
    cosine = dot / (sum(x * x for x in alone) ** 0.5 * sum(y * y for y in batched) ** 0.5)
    return (f"{len(alone)} 维；同一请求两次逐位相同；单独与成批余弦 {cosine:.4f}；"
            f"usage.prompt_tokens={first.usage.prompt_tokens}")  # fmt: skip


CHECKS: list[tuple[str, Callable[[OpenAI], str]]] = [
    ("chat", check_chat),
    ("stream + include_usage", check_stream_usage),
    ("json_schema strict", check_json_schema),
    ("tool_choice auto", check_tool_auto),
    ("tool_choice none", check_tool_none),
    ("tool_choice required", check_tool_required),
    ("tool_choice 指定函数", check_tool_named),
    ("并行工具调用", check_parallel_tools),
    ("n=2", check_n2),
    ("/v1/completions", check_completions),
    ("/v1/models", check_models),
    ("/v1/responses", check_responses),
    ("/v1/responses 流式", check_responses_stream),
    ("/v1/responses 指定函数", check_responses_named_tool),
    ("/v1/embeddings", check_embeddings),
    ("超出上下文 → 400", check_context_overflow),
    ("temperature 0 同一请求同一回答", check_deterministic),
]


def run_checks(client: OpenAI) -> list[Row]:
    rows = []
    for feature, check in CHECKS:
        try:
            rows.append(Row(feature, True, check(client)))
        except Exception as error:  # every failure becomes one row, the table goes on
            rows.append(Row(feature, False, f"{type(error).__name__}: {str(error).splitlines()[0][:90]}"))
    return rows


def main() -> int:
    load_dotenv()
    provider = PROVIDERS["local"]
    client = OpenAI(api_key=provider.api_key(), base_url=provider.base_url(), max_retries=0, timeout=120)
    print(f"检查 {provider.base_url()}：")
    rows = run_checks(client)
    width = max(len(row.feature) for row in rows)
    for row in rows:
        print(f"{'通过' if row.ok else '失败'}  {row.feature.ljust(width)}  {row.detail}")
    failed = sum(not row.ok for row in rows)
    print(f"共 {len(rows)} 项：{len(rows) - failed} 项通过，{failed} 项失败。")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
