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
    "test_check_requests.py",  # long when its cache (check_requests.CACHE_DIR, per user) is cold
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


LAB_LESSON_TEST = "test_lesson_opens_unmodified_runs_and_saves_byte_identical"


def lessons_replayed_in_lab(items: list[pytest.Item]) -> set[str]:
    """Lessons whose browser test is in this session and will run: Run All in JupyterLab, then save, and
    the file must be byte for byte the stored lesson. That proves all nbval proves for the lesson (every
    cell runs and its outputs equal the stored ones; nbval even lets a tagged cell differ), so nbval need
    not replay the lesson a second time."""
    stems = {
        item.callspec.params["lesson"].stem
        for item in items
        if getattr(item, "originalname", None) == LAB_LESSON_TEST and hasattr(item, "callspec")
    }
    if not stems:
        return set()
    from browser_support import lab_test_runs

    return stems if lab_test_runs() else set()


@pytest.hookimpl(trylast=True)  # after -k/-m: only what will really run counts
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    in_lab = lessons_replayed_in_lab(items)
    replayed_twice = [item for item in items if item.path.suffix == ".ipynb" and item.path.stem in in_lab]
    if replayed_twice:
        config.hook.pytest_deselected(items=replayed_twice)
        items[:] = [item for item in items if not (item.path.suffix == ".ipynb" and item.path.stem in in_lab)]
    rank = {name: number for number, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("nbval", default=False):
        return None
    from browser_support import lab_test_runs

    if lab_test_runs():
        return (
            "lessons: replayed once, by the browser test (Run All + save in JupyterLab, byte-identical); "
            "nbval replays only lessons that test does not run"
        )
    return "lessons: replayed by nbval (the browser test skips here)"
