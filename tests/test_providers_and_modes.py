from __future__ import annotations

import pytest

from tutorial_kit.errors import KitError
from tutorial_kit.machinery.modes import Mode, resolve_mode
from tutorial_kit.machinery.recording import CLOSED_PORT_URL
from tutorial_kit.providers import LOCAL_API_KEY, PROVIDERS, get_provider, key_values


def test_unknown_provider_names_the_choices() -> None:
    with pytest.raises(KitError) as raised:
        get_provider("anthropic")
    message = str(raised.value)
    assert "anthropic" in message and "dashscope" in message and "\n" not in message


def test_provider_names_are_case_insensitive() -> None:
    assert get_provider(" DashScope ").name == "dashscope"


def test_base_url_can_be_overridden_from_the_environment() -> None:
    dashscope = PROVIDERS["dashscope"]
    intl = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
    assert dashscope.base_url({}) == dashscope.default_base_url
    assert dashscope.base_url({"DASHSCOPE_BASE_URL": intl}) == intl


def test_empty_key_counts_as_missing_and_local_has_its_fixed_key() -> None:
    assert PROVIDERS["openai"].api_key({"OPENAI_API_KEY": ""}) is None
    assert PROVIDERS["local"].api_key({}) == LOCAL_API_KEY


def test_every_provider_names_its_models() -> None:
    for provider in PROVIDERS.values():
        assert provider.models.chat and provider.models.code


@pytest.mark.parametrize(
    ("requested", "env", "expected"),
    [
        ("replay", {"OPENAI_API_KEY": "sk-test"}, Mode.REPLAY),
        ("auto", {"OPENAI_API_KEY": "sk-test"}, Mode.LIVE),
        ("auto", {}, Mode.REPLAY),
        ("", {}, Mode.REPLAY),
        ("LIVE", {"OPENAI_API_KEY": "sk-test"}, Mode.LIVE),
        ("record", {"OPENAI_API_KEY": "sk-test"}, Mode.RECORD),
    ],
)
def test_mode_for_a_cloud_provider(requested: str, env: dict[str, str], expected: Mode) -> None:
    assert resolve_mode(requested, PROVIDERS["openai"], env) is expected


def test_live_without_a_key_says_which_variable_to_set() -> None:
    with pytest.raises(KitError, match="ZHIPUAI_API_KEY"):
        resolve_mode("live", PROVIDERS["zhipu"], {})


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(KitError, match="LLM_MODE"):
        resolve_mode("fast", PROVIDERS["openai"], {})


def test_stopped_local_server_gives_the_command_that_starts_it() -> None:
    env = {"LOCAL_BASE_URL": CLOSED_PORT_URL}
    with pytest.raises(KitError, match="make serve-local"):
        resolve_mode("live", PROVIDERS["local"], env)
    assert resolve_mode("auto", PROVIDERS["local"], env) is Mode.REPLAY


def test_key_values_lists_every_set_key_for_scrubbing() -> None:
    env = {"OPENAI_API_KEY": "a", "ZHIPUAI_API_KEY": "", "DASHSCOPE_API_KEY": "c", "ZAI_API_KEY": "z"}
    assert sorted(key_values(env)) == ["a", "c", "z"]


def test_check_models_reports_missing_defaults_and_shutdown_dates() -> None:
    from openai.types import Model

    from tutorial_kit.machinery.check_models import default_findings

    openai_provider = PROVIDERS["openai"]
    chat = openai_provider.models.chat
    listed_fine = [
        Model(id=model, created=0, object="model", owned_by="openai") for model in openai_provider.default_model_ids()
    ]
    assert default_findings(openai_provider, listed_fine) == []
    dated = [Model(id=chat, created=0, object="model", owned_by="openai", shutdown_date="2027-06-01")]
    assert "2027-06-01" in default_findings(openai_provider, dated)[0]
    missing = default_findings(PROVIDERS["dashscope"], [])
    assert len(missing) == len(PROVIDERS["dashscope"].default_model_ids())


def test_check_models_skips_a_provider_without_a_key_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tutorial_kit.machinery.check_models import check_provider

    assert check_provider(PROVIDERS["zhipu"], {}) is None
    out = capsys.readouterr().out
    assert "ZHIPUAI_API_KEY" in out and out.count("\n") == 1


def test_check_models_says_when_a_server_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    from tutorial_kit.machinery.check_models import check_provider

    assert check_provider(PROVIDERS["local"], {"LOCAL_BASE_URL": CLOSED_PORT_URL}) is None
    assert "连不上" in capsys.readouterr().out


@pytest.mark.parametrize("notebook, expected", [("06_vision", "fixture"), ("01_models", "replay")])
def test_recording_one_provider_never_records_another_whatever_keys_exist(
    monkeypatch: pytest.MonkeyPatch, notebook: str, expected: str
) -> None:
    """``make record PROVIDER=local`` with cloud keys set: a section written for DashScope builds its
    declared fixture (06 has one) or replays what is there (01 has no fixture), never calls DashScope."""
    from tutorial_kit.session import _requested_mode

    monkeypatch.setenv("LLM_MODE", "record")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-0123456789abcdef0123456789abcdef")
    assert _requested_mode(notebook, get_provider("dashscope"), get_provider("local")) == expected
    assert _requested_mode(notebook, get_provider("local"), get_provider("local")) == "record"


def test_record_hides_other_providers_keys_from_the_lesson() -> None:
    from tutorial_kit.machinery.record import other_keys_hidden

    assert other_keys_hidden("local") == {"DASHSCOPE_API_KEY": "", "OPENAI_API_KEY": "", "ZHIPUAI_API_KEY": "",
                                          "ZAI_API_KEY": ""}  # fmt: skip
    assert "DASHSCOPE_API_KEY" not in other_keys_hidden("dashscope")
    assert set(other_keys_hidden("zhipu")) == {"DASHSCOPE_API_KEY", "OPENAI_API_KEY"}
