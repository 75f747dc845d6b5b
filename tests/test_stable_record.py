"""Record-time substitutions that make a second recording of the same requests byte-identical."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from vcr.request import Request

from tutorial_kit.machinery.stable_record import StableValues

DAY = datetime(2026, 12, 4, 15, 30, tzinfo=timezone.utc)
RESPONSE = (
    '{"choices":[{"message":{"tool_calls":[{"type":"function","id":"qa21dybdr5NWgw8IekYenIKy7UL8Tg0x"}]}}],'
    '"created":1795432478,"completed_at":1795432481,"id":"chatcmpl-P6AM9Rhml5X4ncG8VyVvCmvgI8XrXAzc","system_fingerprint":"b0-0c1e57098",'
    '"timings":{"prompt_n":18,"prompt_ms":55.609,"predicted_per_second":21.614524374222885},"usage":{"total_tokens":9}}'
)


def record(stable: StableValues, body: str) -> str:
    return stable.response({"body": {"string": body}, "headers": {}})["body"]["string"]


def test_two_recordings_with_other_random_ids_store_the_same_bytes() -> None:
    first = record(StableValues("local/07_tool_calling", DAY), RESPONSE)
    other_run = RESPONSE.replace("qa21dybdr5NWgw8IekYenIKy7UL8Tg0x", "ZZ21dybdr5NWgw8IekYenIKy7UL8Tg0y")
    other_run = other_run.replace("P6AM9Rhml5X4ncG8VyVvCmvgI8XrXAzc", "Q7AM9Rhml5X4ncG8VyVvCmvgI8XrXAzd")
    other_run = other_run.replace("1795432478", "1795432999").replace("1795432481", "1795433002")
    other_run = other_run.replace("55.609", "71.2")
    assert record(StableValues("local/07_tool_calling", DAY), other_run) == first
    data = json.loads(first)
    assert "timings" not in data and data["usage"] == {"total_tokens": 9}
    assert data["created"] == data["completed_at"] == int(datetime(2026, 12, 4, tzinfo=timezone.utc).timestamp())
    assert data["id"].startswith("chatcmpl-") and len(data["id"]) == len("chatcmpl-") + 32
    assert data["system_fingerprint"] == "b0-0c1e57098"


def test_an_id_sent_back_in_a_later_request_gets_the_same_substitute() -> None:
    stable = StableValues("local/07_tool_calling", DAY)
    stored_id = json.loads(record(stable, RESPONSE))["choices"][0]["message"]["tool_calls"][0]["id"]
    body = json.dumps({"messages": [{"role": "tool", "tool_call_id": "qa21dybdr5NWgw8IekYenIKy7UL8Tg0x"}]})
    request = Request("POST", "http://127.0.0.1:8765/v1/chat/completions", body, {})
    once = stable.request(request)
    twice = stable.request(once)  # vcrpy may run the hook again on the same request
    assert json.loads(twice.body)["messages"][0]["tool_call_id"] == stored_id
    assert "qa21dy" not in twice.body.decode()


def test_text_that_only_looks_random_is_left_alone() -> None:
    body = '{"content":"P6AM9Rhml5X4ncG8VyVvCmvgI8XrXAzc is a string","created_by":"me"}'
    assert record(StableValues("local/x", DAY), body) == body
