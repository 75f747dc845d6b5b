"""The status line names the model a section really calls (issue 8, fact 13)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tutorial_kit.errors import KitError
from tutorial_kit.machinery.manifest import entry_for
from tutorial_kit.session import finish_recording, start_session

NOTEBOOK = "06_vision"


@pytest.fixture(autouse=True)
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLM_MODE", "replay")
    yield
    finish_recording()


@pytest.mark.parametrize("provider", ["dashscope", "zhipu"])
def test_a_vision_section_names_its_vision_models(provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    session = start_session(NOTEBOOK, provider=provider, tasks=("vision", "video"))
    line = capsys.readouterr().out.splitlines()[0]
    models = entry_for(provider, NOTEBOOK)["models"]
    assert session.models.vision == models["vision"]
    assert f"模型 {models['vision']}" in line
    assert models["video"] in line
    assert models["chat"] not in line.split(" · ")[2] or models["chat"] in (models["vision"], models["video"])


def test_the_default_names_the_chat_model(capsys: pytest.CaptureFixture[str]) -> None:
    session = start_session(NOTEBOOK, provider="local")
    assert f"模型 {session.model} ·" in capsys.readouterr().out


def test_an_unknown_task_is_one_clear_line() -> None:
    with pytest.raises(KitError, match="未知的任务"):
        start_session(NOTEBOOK, provider="local", tasks=("painting",))
