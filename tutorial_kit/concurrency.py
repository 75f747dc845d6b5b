"""Calling an API for many inputs without tripping its rate limit.

``map_bounded`` runs at most ``limit`` calls at once (threads: the SDK's client is
thread-safe) and returns one ``Outcome`` per input, in input order; a failed call is kept
as that input's error instead of cancelling the rest. ``wait_before_retry`` says how long
to wait after a 429: the server's ``Retry-After`` when it sends one, else exponential
backoff. Lower ``limit`` when 429s keep coming: waiting alone does not reduce the load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import KitError
from .machinery.one_at_a_time import ItemsInOrder

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class Outcome(Generic[Item, Result]):
    item: Item
    value: Result | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunStats:
    """What a ``map_bounded`` run did: how many calls were in flight at most."""

    peak_in_flight: int = 0


def map_bounded(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    limit: int,
    stats: RunStats | None = None,
) -> list[Outcome[Item, Result]]:
    """Call ``function(item)`` for every item, never more than ``limit`` at once."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise KitError(f"并发上限必须是正整数，收到 {limit!r}。")
    items = list(items)
    stats = stats if stats is not None else RunStats()
    lock = threading.Lock()
    in_flight = 0
    in_order = ItemsInOrder(len(items))  # while recording, the calls reach the server in input order

    def run(index: int, item: Item) -> Outcome[Item, Result]:
        nonlocal in_flight
        with lock:
            in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, in_flight)
        try:
            with in_order.item(index):
                return Outcome(item, value=function(item))
        except Exception as error:  # one failed input must not lose the others' results
            return Outcome(item, error=error)
        finally:
            with lock:
                in_flight -= 1

    with ThreadPoolExecutor(max_workers=limit) as pool:
        return list(pool.map(run, range(len(items)), items))


def retry_after_seconds(error: Any) -> float | None:
    """The wait a 429 response asks for (``retry-after-ms`` or ``retry-after`` in seconds)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue  # an HTTP date: not worth parsing here, fall back to backoff
        if seconds >= 0:
            return seconds
    return None


def wait_before_retry(error: Any, attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): the server's
    ``Retry-After`` if given, otherwise ``base * 2**(attempt-1)``, never more than ``cap``."""
    if attempt < 1:
        raise KitError(f"attempt 从 1 开始计数，收到 {attempt!r}。")
    asked = retry_after_seconds(error)
    seconds = asked if asked is not None else base * 2 ** (attempt - 1)
    return min(seconds, cap)
