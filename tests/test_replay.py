"""Replay inside one process, from the committed recording of notebook 00."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from zhipuai import ZhipuAI

from tutorial_kit import session as session_module
from tutorial_kit.errors import CassetteMissError, KitError
from tutorial_kit.session import finish_recording, start_session

NOTEBOOK = "00_getting_started"
RECORDED_PROMPT = "用一句话欢迎一位新同学。"  # the request lesson 00 records


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Any connection attempt is recorded and refused."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError("tests must not connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    finish_recording()


@pytest.fixture
def replay_client(monkeypatch: pytest.MonkeyPatch, no_network: list[object]) -> OpenAI:
    monkeypatch.setenv("LLM_MODE", "replay")
    session = start_session(NOTEBOOK, provider="local")
    return OpenAI(api_key=session.api_key, base_url=session.base_url)


def ask(client: OpenAI, prompt: str) -> str | None:
    response = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": prompt}],
        temperature=0,
        max_completion_tokens=40,
    )
    return response.choices[0].message.content


def test_recorded_request_replays_without_network(replay_client: OpenAI, no_network: list[object]) -> None:
    answer = ask(replay_client, RECORDED_PROMPT)
    assert answer and answer.strip()
    assert ask(replay_client, RECORDED_PROMPT) == answer  # a cell run twice replays again
    assert no_network == []


def count_attempts() -> list[object]:
    """Record every request the SDK hands to the cassette (a retry would add one)."""
    assert session_module._active is not None
    cassette = session_module._active[1]
    attempts: list[object] = []
    check = cassette.can_play_response_for

    def counted(request: object) -> bool:
        attempts.append(request)
        return check(request)

    cassette.can_play_response_for = counted
    return attempts


def test_missing_request_fails_at_once_naming_the_fix(replay_client: OpenAI, no_network: list[object]) -> None:
    attempts = count_attempts()
    with pytest.raises(CassetteMissError) as raised:
        ask(replay_client, "a prompt that was never recorded")
    message = str(raised.value)
    assert "（POST /v1/chat/completions）的 messages 与录制时不同" in message  # what the learner changed
    assert "make serve-local" in message and "LOCAL_BASE_URL" in message and "LLM_PROVIDER" in message
    assert "make record" not in message and "\n" not in message
    assert len(attempts) == 1, "the SDK must not retry a miss"
    assert no_network == []


def test_json_body_matching_ignores_key_order_but_not_values(replay_client: OpenAI) -> None:
    # The SDK serializes our keyword arguments; a changed value must not match.
    with pytest.raises(CassetteMissError):
        replay_client.chat.completions.create(
            model="smollm2-135m",
            messages=[{"role": "user", "content": RECORDED_PROMPT}],
            temperature=0,
            max_tokens=41,
        )


def test_a_request_for_another_providers_host_says_which_session_is_open(replay_client: OpenAI) -> None:
    other = OpenAI(api_key="sk-replay", base_url="https://dashscope.aliyuncs.com/compatible-mode/v1")
    with pytest.raises(CassetteMissError) as raised:
        ask(other, RECORDED_PROMPT)
    message = str(raised.value)
    assert "dashscope.aliyuncs.com" in message and "local" in message and "start_session" in message


def test_zhipu_sdk_does_not_retry_a_miss(monkeypatch: pytest.MonkeyPatch, no_network: list[object]) -> None:
    monkeypatch.setenv("LLM_MODE", "replay")
    session = start_session(NOTEBOOK, provider="local")
    client = ZhipuAI(api_key="id.secret", base_url=session.base_url)
    attempts = count_attempts()
    with pytest.raises(CassetteMissError):
        client.chat.completions.create(model="smollm2-135m", messages=[{"role": "user", "content": "hi"}])
    assert len(attempts) == 1, "zhipuai retries any Exception; the miss must not be one"
    assert no_network == []


def test_one_line_rendering_in_jupyter() -> None:
    lines = CassetteMissError("回放失败：…")._render_traceback_()
    assert len(lines) == 1 and "回放失败" in lines[0]


def point_cassettes_at(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    monkeypatch.setattr("tutorial_kit.machinery.recording.CASSETTE_DIR", directory)


def test_missing_cassette_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    point_cassettes_at(monkeypatch, tmp_path)
    monkeypatch.setenv("LLM_MODE", "replay")
    with pytest.raises(KitError) as raised:
        start_session(NOTEBOOK, provider="dashscope")
    assert "make record NB=00_getting_started PROVIDER=dashscope" in str(raised.value)


@pytest.mark.parametrize("content", ["interactions: [", "", "not: a cassette\n", "\x00\x01"])
def test_corrupt_cassette_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / f"{NOTEBOOK}.yaml").write_text(content)
    point_cassettes_at(monkeypatch, tmp_path)
    monkeypatch.setenv("LLM_MODE", "replay")
    with pytest.raises(KitError, match="损坏"):
        start_session(NOTEBOOK, provider="local")


def test_status_line_says_mode_provider_model_and_origin(
    replay_client: OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    finish_recording()
    start_session(NOTEBOOK, provider="local")
    line = capsys.readouterr().out.strip()
    assert line.startswith("▶ 回放模式 · 服务商 local · 模型 smollm2-135m · ")
    assert line.endswith("录自本机 llama.cpp 服务器 · 实时运行：make serve-local 或见第 00 课")
    assert "\n" not in line and "commit" not in line and "补丁" not in line  # build details live elsewhere
    assert session_module._active is not None


def test_status_line_of_a_fixture_says_it_is_example_data_and_names_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_network: list[object]
) -> None:
    monkeypatch.setenv("LLM_MODE", "replay")
    start_session("08_web_search", provider="dashscope")
    line = capsys.readouterr().out.strip()
    assert line.startswith("▶ 回放模式 · 服务商 dashscope · 模型 ")
    assert line.endswith("示例数据（按文档格式编写，不是真实回答） · 实时运行：在 .env 填写 DASHSCOPE_API_KEY")
