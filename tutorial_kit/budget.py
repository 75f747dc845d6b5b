"""A spending limit for one notebook session, fed with each response's ``usage``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import KitError
from .pricing import estimate_cost, price_for


class BudgetExceeded(KitError):
    """Raised before a call once the session has spent its budget."""


@dataclass
class Budget:
    """``record()`` every response; ``check()`` before the next call refuses it once
    ``spent`` reaches ``limit``. Requests to a model without a sourced price are counted
    in ``unpriced`` so the learner sees that the total is incomplete."""

    limit: float
    currency: str
    spent: float = 0.0
    calls: int = 0
    unpriced: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.limit > 0:
            raise KitError(f"预算必须大于 0，收到 {self.limit!r}。")

    @property
    def remaining(self) -> float:
        return max(self.limit - self.spent, 0.0)

    def check(self) -> None:
        if self.spent >= self.limit:
            raise BudgetExceeded(
                f"预算已用完：已花 {self.spent:.6f} {self.currency}，上限 {self.limit} {self.currency}，"
                f"共 {self.calls} 次请求。提高上限或换更便宜的模型后再继续。"
            )

    def record(self, provider: str, model: str, usage: Any) -> float | None:
        """Add one response's cost; return it (``None`` when the model has no price)."""
        self.calls += 1
        price = price_for(provider, model)
        cost = estimate_cost(provider, model, usage)
        if price is None or cost is None:
            self.unpriced.append(f"{provider}/{model}")
            return None
        if price.currency != self.currency and cost > 0:
            raise KitError(f"{provider}/{model} 的价格以 {price.currency} 计，而预算以 {self.currency} 计。")
        self.spent += cost
        return cost
