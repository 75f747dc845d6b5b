"""The drift report compares response shapes (fields and JSON types), never values."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tutorial_kit.machinery.drift import compare, compare_cassettes
from tutorial_kit.machinery.traffic import load_cassette_text, usage_of

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def sse(*chunks: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


def cassette(*bodies: tuple[dict[str, Any], str], port: int = 8765) -> str:
    interactions = []
    for request, body in bodies:
        kind = "text/event-stream" if body.startswith("data:") else "application/json"
        interactions.append({
            "request": {"method": "POST", "uri": f"http://127.0.0.1:{port}/v1/chat/completions",
                        "body": json.dumps(request), "headers": {}},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": [kind]},
                         "body": {"string": body}},
        })  # fmt: skip
    return yaml.safe_dump({"interactions": interactions, "version": 1})


def chunk(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}], **extra}


def test_same_shape_other_values_and_other_port_is_no_drift() -> None:
    recorded, _ = load_cassette_text(cassette((REQUEST, sse(chunk({"content": "A"}), chunk({"content": "B"})))))
    live, _ = load_cassette_text(
        cassette((REQUEST, sse(chunk({"content": "xyz"}), chunk({"content": "q"}), chunk({"content": "r"}))), port=8799)
    )
    result = compare_cassettes("local/x.yaml", recorded, live, None)
    assert result.compared == 1 and not result.drifts


def test_stream_chunks_new_missing_and_changed_fields() -> None:
    old = sse(chunk({"role": "assistant"}), chunk({"content": "A"}, created=1), chunk({}, usage={"prompt_tokens": 1}))
    new = sse(chunk({"role": "assistant", "reasoning_content": "…"}), chunk({"content": "A"}, created="1"))
    (recorded,), _ = load_cassette_text(cassette((REQUEST, old)))
    (live,), _ = load_cassette_text(cassette((REQUEST, new)))
    assert recorded.streamed and len(recorded.payloads) == 3
    drift = compare(recorded, live)
    assert set(drift.new) == {"choices[].delta.reasoning_content"}
    assert {"usage", "usage.prompt_tokens"} <= set(drift.missing)
    assert drift.changed["created"] == ({"number"}, {"string"})
    assert drift.new_chunk_kinds == 1 and drift.missing_chunk_kinds == 2


def test_a_request_with_another_body_is_not_compared() -> None:
    recorded, _ = load_cassette_text(cassette((REQUEST, json.dumps({"a": 1}))))
    other = dict(REQUEST, max_tokens=5)
    live, _ = load_cassette_text(cassette((other, json.dumps({"b": "x"}))))
    result = compare_cassettes("local/x.yaml", recorded, live, None)
    assert (result.compared, result.unmatched_live, result.unmatched_recorded) == (0, 1, 1)


def test_status_change_and_fixture_are_reported() -> None:
    recorded, _ = load_cassette_text(cassette((REQUEST, json.dumps({"id": "a", "web_search": [{"title": "t"}]}))))
    text = cassette((REQUEST, json.dumps({"id": "a"}))).replace("code: 200", "code: 404")
    live, _ = load_cassette_text(text)
    result = compare_cassettes("dashscope/08.yaml", recorded, live, "fixtures/dashscope/08.yaml")
    report = "\n".join(result.report_lines())
    assert "- web_search: array（含 title）" in report
    assert "~ <HTTP 状态码>: 200 → 404" in report
    assert "示例数据 fixtures/dashscope/08.yaml 与真实 API 的响应已不一致" in report


def test_usage_from_json_stream_and_responses_api() -> None:
    body = {"usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    streamed = sse(chunk({"content": "a"}), chunk({}, usage={"prompt_tokens": 4, "completion_tokens": 2}))
    responses = {"output": [], "usage": {"input_tokens": 5, "output_tokens": 6}}
    interactions, _ = load_cassette_text(
        cassette((REQUEST, json.dumps(body)), (REQUEST, streamed), (REQUEST, json.dumps(responses)), (REQUEST, "{}"))
    )
    found = [usage_of(interaction) for interaction in interactions]
    assert [(u.prompt_tokens, u.completion_tokens) if u else None for u in found] == [(7, 3), (4, 2), (5, 6), None]
