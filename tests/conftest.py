from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never see the developer's keys or mode settings."""
    for name in (
        "LLM_PROVIDER", "LLM_MODE", "LLM_MODEL", "DASHSCOPE_API_KEY", "OPENAI_API_KEY",
        "ZHIPUAI_API_KEY", "ZAI_API_KEY", "LOCAL_BASE_URL", "LOCAL_API_KEY", "DASHSCOPE_BASE_URL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
