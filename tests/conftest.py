from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never see the developer's keys or mode settings."""
    for name in (
        "LLM_PROVIDER", "LLM_MODE", "LLM_MODEL", "DASHSCOPE_API_KEY", "OPENAI_API_KEY",
        "ZHIPUAI_API_KEY", "ZAI_API_KEY", "LOCAL_BASE_URL", "LOCAL_API_KEY", "DASHSCOPE_BASE_URL",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless system Chromium per test process, shared by the Lab and the site tests (skips without one)."""
    from browser_support import chromium

    with chromium() as launched:
        yield launched
