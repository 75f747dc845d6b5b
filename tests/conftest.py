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


# pytest-xdist hands each file to one worker (--dist loadfile) in collection order (make test passes
# --no-loadscope-reorder): the files that take longest go first, so the two workers finish together.
# Per-file times: scripts/bench_test.py. The order changes no result, only when each file starts.
LONGEST_FIRST = (
    "test_check_requests.py",  # long when its cache (.cache/check-requests) is cold
    "test_browser_lab_later.py",
    "test_browser_lab.py",
    "test_record_interrupt.py",
    "test_site.py",
    "test_adversarial.py",
    "test_rehearse.py",
    "test_replay_corruption.py",
    "15_agents_and_mcp.ipynb",
    "03_generate_and_validate_code.ipynb",
    "13_errors_retries_and_cost.ipynb",
    "test_sandbox.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: number for number, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order
