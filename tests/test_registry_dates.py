"""The registry's default models must stay clear of their announced shutdowns.

CI turns red 90 days before a default is shut down, so a lesson is fixed before it rots.
The date is a parameter, so the guard itself is tested with faked dates.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from tutorial_kit.providers import PROVIDERS, SHUTDOWN_MARGIN_DAYS, ModelSource, registry_problems


def test_no_default_is_near_its_shutdown_today() -> None:
    assert registry_problems(date.today()) == []


def test_every_default_model_has_a_source_and_check_date() -> None:
    for provider in PROVIDERS.values():
        assert set(provider.default_model_ids()) == set(provider.model_sources), provider.name


def _openai_shutting_down(shutdown: date) -> dict:
    openai = PROVIDERS["openai"]
    model = openai.models.chat
    sources = {other: ModelSource("https://x.test", date(2026, 1, 1)) for other in openai.default_model_ids()}
    sources[model] = ModelSource("https://x.test", checked_on=date(2026, 1, 1), shutdown_on=shutdown)
    return {"openai": replace(openai, model_sources=sources)}


def test_a_faked_date_past_the_shutdown_fails() -> None:
    registry = _openai_shutting_down(date(2027, 1, 14))
    problems = registry_problems(date(2027, 2, 1), registry)
    assert len(problems) == 1 and "2027-01-14" in problems[0]


def test_within_the_margin_fails_and_outside_it_passes() -> None:
    registry = _openai_shutting_down(date(2027, 1, 14))
    assert registry_problems(date(2026, 11, 23), registry)  # 52 days left: the old gpt-4.1-mini case
    assert registry_problems(date(2026, 10, 16), registry)  # 90 days left is still inside the margin
    assert registry_problems(date(2026, 10, 15), registry) == []  # 91 days left
    assert SHUTDOWN_MARGIN_DAYS == 90


def test_a_missing_source_or_a_check_date_in_the_future_fails() -> None:
    local = PROVIDERS["local"]
    unsourced = {"local": replace(local, model_sources={})}
    assert "no source" in registry_problems(date(2026, 11, 23), unsourced)[0]
    future = {"local": replace(local, model_sources={"smollm2-135m": ModelSource("https://x.test", date(2030, 1, 1))})}
    assert "after" in registry_problems(date(2026, 11, 23), future)[0]
