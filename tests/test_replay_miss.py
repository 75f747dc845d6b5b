"""The replay-miss line: which fields changed, and the ways a learner can run the cell for real."""

from __future__ import annotations

import json

from vcr.request import Request

from tutorial_kit.machinery.replay_miss import changed_fields, miss_message

URL = "http://127.0.0.1:8765/v1/chat/completions"


def _post(body: dict[str, object], url: str = URL) -> Request:
    return Request("POST", url, json.dumps(body), {})


RECORDED = [
    _post({"model": "m", "messages": [{"role": "user", "content": "你好"}], "temperature": 0}),
    _post({"model": "m", "messages": [{"role": "user", "content": "再见"}], "temperature": 0, "max_tokens": 5}),
    _post({"model": "m", "input": "hi"}, url="http://127.0.0.1:8765/v1/responses"),
]


def test_the_closest_recorded_request_names_the_changed_fields() -> None:
    edited = _post({"model": "m", "messages": [{"role": "user", "content": "改过的"}], "temperature": 0})
    assert changed_fields(edited, RECORDED) == ["messages"]
    both = _post({"model": "m", "messages": [{"role": "user", "content": "你好"}], "temperature": 0.7, "n": 2})
    assert changed_fields(both, RECORDED) == ["n", "temperature"]


def test_an_endpoint_never_recorded_or_a_body_that_is_not_json_has_no_comparison() -> None:
    assert changed_fields(_post({"model": "m"}, url="http://127.0.0.1:8765/v1/embeddings"), RECORDED) is None
    assert changed_fields(Request("POST", URL, b"\xff\xfe", {}), RECORDED) is None


def test_local_lists_three_ways_to_run_for_real_and_never_make_record() -> None:
    line = miss_message("local", _post({"model": "m", "messages": [], "temperature": 0}), RECORDED)
    assert line.startswith("回放只能重放录制过的请求：这个请求（POST /v1/chat/completions）的 messages 与录制时不同")
    for way in ("make serve-local", "LOCAL_BASE_URL 和 LOCAL_API_KEY", "LLM_PROVIDER"):
        assert way in line
    assert "make record" not in line and "\n" not in line


def test_a_cloud_provider_names_its_key() -> None:
    line = miss_message("dashscope", _post({"model": "m"}, url="https://x/v1/embeddings"), RECORDED)
    assert "录制里没有这样的请求（POST /v1/embeddings）" in line
    assert line.endswith("要真正运行它：在 .env 填写 DASHSCOPE_API_KEY，然后重启内核。")


def test_many_changed_fields_are_cut_short() -> None:
    many = _post({f"p{number}": number for number in range(9)})
    assert "的 messages、model、p0、p1 等 12 项 与录制时不同" in miss_message("local", many, RECORDED)
