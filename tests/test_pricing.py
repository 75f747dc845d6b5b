"""Prices are sourced and dated; estimates follow usage; the budget stops spending."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from tutorial_kit import KitError
from tutorial_kit.budget import Budget, BudgetExceeded
from tutorial_kit.pricing import PRICES, estimate_cost, price_for


def test_every_price_is_dated_and_sourced() -> None:
    for (provider, model), price in PRICES.items():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.checked_on), model
        assert price.source.startswith("https://") or provider == "local", model
        assert price.input_per_million >= 0 and price.output_per_million >= 0
        assert price.currency in {"USD", "CNY"}
        assert price.confirmed or price.note, f"{model}: an unconfirmed price must say why"


def test_cost_from_usage_object_or_dict() -> None:
    usage = SimpleNamespace(prompt_tokens=1_000_000, completion_tokens=500_000, total_tokens=1_500_000)
    assert estimate_cost("openai", "gpt-6-luna", usage) == pytest.approx(0.10 + 0.25)
    as_dict = {"prompt_tokens": 2000, "completion_tokens": 1000}
    assert estimate_cost("OpenAI", "gpt-6-luna", as_dict) == pytest.approx((2000 * 0.10 + 1000 * 0.50) / 1e6)
    assert estimate_cost("zhipu", "glm-4.7-flash", as_dict) == 0.0


def test_unknown_model_or_missing_usage_gives_none() -> None:
    assert price_for("dashscope", "qwen-plus") is None
    assert estimate_cost("dashscope", "qwen-plus", {"prompt_tokens": 10}) is None
    assert estimate_cost("openai", "gpt-6-luna", None) is None
    assert price_for("openai", "gpt-4.1-mini") is None  # shuts down 2027-01-14: no longer priced


def test_budget_refuses_the_call_after_the_limit() -> None:
    budget = Budget(limit=0.0003, currency="USD")
    step = {"prompt_tokens": 1000, "completion_tokens": 200}  # 0.0002 USD on gpt-6-luna
    budget.check()
    assert budget.record("openai", "gpt-6-luna", step) == pytest.approx(0.0002)
    budget.check()  # still under the limit
    budget.record("openai", "gpt-6-luna", step)
    assert budget.spent == pytest.approx(0.0004) and budget.remaining == 0.0
    with pytest.raises(BudgetExceeded, match="预算已用完"):
        budget.check()


def test_budget_counts_unpriced_calls_and_refuses_bad_input() -> None:
    budget = Budget(limit=1.0, currency="USD")
    assert budget.record("dashscope", "qwen-plus", {"prompt_tokens": 5}) is None
    assert budget.unpriced == ["dashscope/qwen-plus"] and budget.calls == 1 and budget.spent == 0
    assert budget.record("local", "smollm2-135m", {"prompt_tokens": 5}) == 0.0  # free in any currency
    with pytest.raises(KitError, match="预算必须大于 0"):
        Budget(limit=0, currency="USD")
    with pytest.raises(KitError, match="CNY"):
        Budget(limit=1.0, currency="CNY").record("openai", "gpt-6-luna", {"prompt_tokens": 5})
