"""asyncio.run for tests that share a pytest-xdist worker with the browser tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")


def run_in_own_loop(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps an event loop running in the
    worker's main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
