"""Fixtures are declared, built from their specs, and announced every time they play."""

from __future__ import annotations

import httpx2
import nbformat
import pytest
import yaml
from openai import OpenAI, RateLimitError

from tutorial_kit import KitError
from tutorial_kit.machinery import fixtures, manifest
from tutorial_kit.machinery.recording import CASSETTE_DIR, PROJECT_ROOT, cassette_metadata
from tutorial_kit.streaming import collect

NOTE = fixtures.replay_note("")[:20]
FIXTURE_ENTRIES = {key: entry for key, entry in manifest.load()["cassettes"].items() if entry["origin"] == "fixture"}


def interactions(key: str) -> list[dict]:
    return yaml.safe_load((CASSETTE_DIR / key).read_text())["interactions"]


def test_there_are_fixtures_and_each_has_its_spec() -> None:
    assert FIXTURE_ENTRIES
    for key, entry in FIXTURE_ENTRIES.items():
        spec = fixtures.load_spec(entry["provider"], entry["notebook"])
        assert spec["docs_url"] == entry["docs_url"], key
        assert cassette_metadata(CASSETTE_DIR / key)[fixtures.METADATA_KEY]["docs_url"] == entry["docs_url"]
        assert len(interactions(key)) == len(spec["responses"]), f"{key}: rebuild with make record"


def test_no_recorded_cassette_claims_a_fixture_spec() -> None:
    for key, entry in manifest.load()["cassettes"].items():
        has_spec = fixtures.METADATA_KEY in cassette_metadata(CASSETTE_DIR / key)
        assert has_spec == (entry["origin"] == "fixture"), key


@pytest.mark.parametrize("notebook", sorted({entry["notebook"] for entry in FIXTURE_ENTRIES.values()}))
def test_every_fixture_response_prints_the_note(notebook: str) -> None:
    played = sum(len(interactions(key)) for key, entry in FIXTURE_ENTRIES.items() if entry["notebook"] == notebook)
    cells = nbformat.read(PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    shown = sum(output.get("text", "").count(NOTE) for cell in cells for output in cell.get("outputs", []))
    assert shown == played


def test_fixture_content_is_marked_as_illustrative() -> None:
    for path in sorted(fixtures.FIXTURE_DIR.glob("*/*.yaml")):
        spec = yaml.safe_load(path.read_text())
        assert spec["docs_url"].startswith("https://"), path
        for response in spec["responses"]:
            text = yaml.safe_dump(response["body"], allow_unicode=True)
            assert "【示例】" in text, path
            if response.get("status", 200) < 400:  # an error body has no id to carry the word
                assert "fixture" in text, path


def client_answering_from(entries: list[dict]) -> OpenAI:
    """An SDK client whose HTTP layer answers from spec entries, as make record does."""
    handle = fixtures._answer_from({"responses": entries}, "test-spec")
    transport = httpx2.MockTransport(lambda request: handle(None, request))
    return OpenAI(
        api_key="sk-test", base_url="https://example.invalid/v1", http_client=httpx2.Client(transport=transport)
    )


THINKING_CHUNKS = [
    {
        "id": "fixture-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": None, "reasoning_content": piece},
                "finish_reason": None,
            }
        ],
    }
    for piece in ("【示例】想", "一想")
] + [
    {
        "id": "fixture-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "答案"}, "finish_reason": "stop"}],
    },
    {
        "id": "fixture-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    },
]


def test_a_streamed_fixture_is_parsed_by_the_sdk_as_a_real_stream() -> None:
    client = client_answering_from([{"path": "/chat/completions", "stream": True, "body": THINKING_CHUNKS}])
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    result = collect(stream)
    assert (result.reasoning, result.text, result.finish_reason) == ("【示例】想一想", "答案", "stop")
    assert result.usage.completion_tokens == 5 and result.chunks == 4


def test_status_and_headers_reach_the_sdk() -> None:
    error_body = {"error": {"message": "【示例】rate limited (fixture)", "code": "limit_requests"}}
    entry = {"path": "/chat/completions", "status": 429, "headers": {"retry-after": "7"}, "body": error_body}
    client = client_answering_from([entry]).with_options(max_retries=0)
    with pytest.raises(RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "limit_requests"


def test_a_spec_with_too_few_responses_says_so() -> None:
    client = client_answering_from([]).with_options(max_retries=0)
    with pytest.raises(KitError, match="响应比笔记本发出的请求少"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
