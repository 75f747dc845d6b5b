"""A small, dated price table and a cost estimate from a response's ``usage``.

Prices change; each row names its source and the day it was checked. A row marked
``confirmed=False`` was read from third-party copies of the provider's page, not from the
page itself. A model without a row gets ``None``: better no number than a made-up one.
The estimate is ``prompt_tokens`` at the input price plus ``completion_tokens`` (which
include any reasoning tokens) at the output price; cache discounts and price tiers for
very long prompts are not modelled, so for cached prompts it is an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float
    currency: str
    source: str
    checked_on: str
    confirmed: bool
    note: str = ""


GPT_6_LUNA_PAGE = "https://developers.openai.com/api/docs/models/gpt-6-luna"
ZHIPU_OVERVIEW = "https://docs.bigmodel.cn/cn/guide/start/model-overview"
# Embedding models (lesson 14; SOURCES.md [14-2], [14-3], [14-4]): input only, so the output price is 0.
DASHSCOPE_EMBEDDING_PAGE = "https://help.aliyun.com/document_detail/2975738.html"
OPENAI_EMBEDDING_PAGE = "https://developers.openai.com/api/docs/models/text-embedding-3-large"
ZHIPU_EMBEDDING_PAGE = "https://docs.bigmodel.cn/cn/guide/models/embedding/embedding-3"

# gpt-4.1-mini left this table: it shuts down 2027-01-14 (SOURCES.md [00-6]); its replacement is gpt-6-luna.
PRICES: dict[tuple[str, str], Price] = {
    ("openai", "gpt-6-luna"): Price(
        0.10,
        0.50,
        "USD",
        GPT_6_LUNA_PAGE,
        "2026-11-23",
        True,
        "缓存命中的输入 0.01；输入超过 272K token 时单价更高（未计入）",
    ),
    ("zhipu", "glm-4-flash-250414"): Price(0.0, 0.0, "CNY", ZHIPU_OVERVIEW, "2026-11-23", True, "免费模型"),
    ("zhipu", "glm-4.7-flash"): Price(0.0, 0.0, "CNY", ZHIPU_OVERVIEW, "2026-11-23", True, "免费模型"),
    ("dashscope", "text-embedding-v4"): Price(
        0.5,
        0.0,
        "CNY",
        DASHSCOPE_EMBEDDING_PAGE,
        "2026-12-04",
        True,
        "北京地域 0.0005 元/千 token；批量调用减半；新加坡地域 0.07 美元/百万 token",
    ),
    ("openai", "text-embedding-3-small"): Price(
        0.02, 0.0, "USD", OPENAI_EMBEDDING_PAGE, "2026-12-04", True, "官方 text-embedding-3-large 页面的对比栏"
    ),
    ("zhipu", "embedding-3"): Price(0.5, 0.0, "CNY", ZHIPU_EMBEDDING_PAGE, "2026-12-04", True),
    ("local", "smollm2-135m"): Price(0.0, 0.0, "CNY", "本机服务器", "2026-11-23", True, "只花你自己的电费"),
}


def price_for(provider: str, model: str) -> Price | None:
    return PRICES.get((provider.strip().lower(), model.strip().lower()))


def _tokens(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
    return int(value or 0)


def estimate_cost(provider: str, model: str, usage: Any) -> float | None:
    """Cost of one request in the row's currency, or ``None`` when no sourced price is known.
    ``usage`` is the response's ``usage`` object (or a dict with the same names)."""
    price = price_for(provider, model)
    if price is None or usage is None:
        return None
    prompt = _tokens(usage, "prompt_tokens")
    completion = _tokens(usage, "completion_tokens")
    return (prompt * price.input_per_million + completion * price.output_per_million) / PER_TOKENS
