"""map_bounded never exceeds its limit, keeps order and errors; waits follow Retry-After."""

from __future__ import annotations

import threading
import time

import httpx2
import pytest
from openai import RateLimitError

from tutorial_kit import KitError
from tutorial_kit.concurrency import RunStats, map_bounded, retry_after_seconds, wait_before_retry


def test_results_come_back_in_input_order_with_errors_kept() -> None:
    def square_unless_three(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        time.sleep(0.01 * (5 - n))  # later inputs finish first
        return n * n

    outcomes = map_bounded(square_unless_three, range(5), limit=3)
    assert [o.item for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.value for o in outcomes if o.ok] == [0, 1, 4, 16]
    (failed,) = [o for o in outcomes if not o.ok]
    assert failed.item == 3 and isinstance(failed.error, ValueError)


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_never_more_than_limit_in_flight(limit: int) -> None:
    lock = threading.Lock()
    current = peak = 0

    def slow(_: int) -> None:
        nonlocal current, peak
        with lock:
            current += 1
            peak = max(peak, current)
        time.sleep(0.02)
        with lock:
            current -= 1

    stats = RunStats()
    map_bounded(slow, range(4 * limit + 1), limit=limit, stats=stats)
    assert peak == stats.peak_in_flight
    assert 1 <= peak <= limit
    if limit > 1:
        assert peak > 1  # it really runs calls side by side


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_a_bad_limit_is_refused_in_one_line(limit: object) -> None:
    with pytest.raises(KitError, match="并发上限"):
        map_bounded(str, [1], limit=limit)  # type: ignore[arg-type]


def rate_limit_error(headers: dict[str, str]) -> RateLimitError:
    request = httpx2.Request("POST", "https://example.invalid/v1/chat/completions")
    response = httpx2.Response(429, headers=headers, json={"error": {"message": "slow down"}}, request=request)
    return RateLimitError("Error code: 429", response=response, body=None)


def test_wait_uses_retry_after_then_backoff() -> None:
    assert retry_after_seconds(rate_limit_error({"retry-after": "3"})) == 3.0
    assert retry_after_seconds(rate_limit_error({"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(rate_limit_error({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})) is None
    assert retry_after_seconds(ValueError("no response")) is None
    asked = rate_limit_error({"retry-after": "3"})
    silent = rate_limit_error({})
    assert [wait_before_retry(asked, n) for n in (1, 2, 3)] == [3.0, 3.0, 3.0]
    assert [wait_before_retry(silent, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert wait_before_retry(silent, 10, cap=30) == 30
    assert wait_before_retry(rate_limit_error({"retry-after": "500"}), 1, cap=60) == 60
    with pytest.raises(KitError):
        wait_before_retry(silent, 0)
