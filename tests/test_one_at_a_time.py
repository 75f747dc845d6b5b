"""While recording, HTTP exchanges wait in line (one_at_a_time.py): threads, tasks of an event loop and a
second process each get the server to themselves for a whole exchange, response body included."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
from own_loop import run_in_own_loop

from tutorial_kit.concurrency import map_bounded
from tutorial_kit.machinery import one_at_a_time

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Overlap:
    """A stand-in for the network: notes how many exchanges are inside at once, body reading included."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.guard = threading.Lock()

    def enter(self) -> None:
        with self.guard:
            self.inside += 1
            self.peak = max(self.peak, self.inside)

    def leave(self) -> None:
        with self.guard:
            self.inside -= 1


def test_threads_wait_in_line_until_the_whole_body_is_read() -> None:
    overlap = Overlap()

    class SlowBody(httpx2.SyncByteStream):
        def __iter__(self):  # the server still generating: the body arrives in pieces
            for piece in (b"a", b"b", b"c"):
                time.sleep(0.02)
                yield piece
            overlap.leave()

    def real(_transport: object, request: httpx2.Request) -> httpx2.Response:
        overlap.enter()
        return httpx2.Response(200, stream=SlowBody(), request=request)

    send = one_at_a_time.serial_send(real, httpx2.ByteStream)
    bodies: list[bytes] = []
    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    threads = [threading.Thread(target=lambda: bodies.append(send(None, request).read())) for _ in range(4)]
    [thread.start() for thread in threads]
    [thread.join(10) for thread in threads]
    assert bodies == [b"abc"] * 4
    assert overlap.peak == 1


def test_tasks_of_one_loop_wait_in_line_without_blocking_each_other_forever() -> None:
    overlap = Overlap()

    class SlowBody(httpx2.AsyncByteStream):
        async def __aiter__(self):
            for piece in (b"x", b"y"):
                await asyncio.sleep(0.02)  # needs the loop: a holder that blocked it would hang here
                yield piece
            overlap.leave()

    async def real(_transport: object, request: httpx2.Request) -> httpx2.Response:
        overlap.enter()
        await asyncio.sleep(0.01)
        return httpx2.Response(200, stream=SlowBody(), request=request)

    send = one_at_a_time.serial_async_send(real, httpx2.ByteStream)
    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")

    async def four() -> list[bytes]:
        responses = await asyncio.wait_for(asyncio.gather(*(send(None, request) for _ in range(4))), 10)
        return [await response.aread() for response in responses]

    assert run_in_own_loop(four()) == [b"xy"] * 4
    assert overlap.peak == 1


def test_another_record_process_waits_for_the_file_lock() -> None:
    holder = (
        "import time, sys\nfrom tutorial_kit.machinery.one_at_a_time import exchange_lock\n"
        "with exchange_lock():\n    print('held', flush=True)\n    time.sleep(1.0)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", holder], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        began = time.monotonic()
        with one_at_a_time.exchange_lock():
            waited = time.monotonic() - began
    finally:
        process.wait(10)
    assert waited > 0.5, f"the lock was free while another process held it ({waited:.2f} s)"


def test_vcr_patch_is_put_back_after_a_recorder_starts() -> None:
    import vcr.patch

    before = {name: getattr(vcr.patch, name) for name in dir(vcr.patch) if "HttpTransport_handle" in name}
    with one_at_a_time.while_vcr_reads_the_transports():
        during = {name: getattr(vcr.patch, name) for name in before}
    assert all(during[name] is not before[name] for name in before), "a transport was left unserialized"
    assert {name: getattr(vcr.patch, name) for name in before} == before


def test_map_bounded_items_get_the_server_in_input_order_however_the_threads_run() -> None:
    """A pool of 2 threads, 6 items, and the item that comes first is the slowest to reach the server: its
    exchange must still come first, on every run (the recording's order, and so its bytes, repeat)."""
    order: list[int] = []

    def exchange(item: int) -> None:
        time.sleep(0.1 if item % 2 == 0 else 0)  # the even items dawdle before their request
        with one_at_a_time.exchange_lock():
            order.append(item)
            time.sleep(0.01)

    for _ in range(3):
        order.clear()
        outcomes = map_bounded(exchange, range(6), limit=2)
        assert all(outcome.ok for outcome in outcomes)
        assert order == list(range(6))


def test_an_item_that_never_reaches_the_server_does_not_hold_up_the_rest() -> None:
    order: list[int] = []

    def exchange(item: int) -> None:
        if item == 0:
            raise ValueError("no request for this one")
        with one_at_a_time.exchange_lock():
            order.append(item)

    outcomes = map_bounded(exchange, range(4), limit=2)
    assert [outcome.ok for outcome in outcomes] == [False, True, True, True]
    assert order == [1, 2, 3]
