"""While recording, HTTP exchanges reach the server one at a time.

llama-server computes the requests it is serving at the same moment in one batch, and ggml's CPU kernels
round differently for different batch shapes, so at temperature 0 an answer can depend on what else the
server was doing. Measured on the project's server (--no-cache-prompt, 8 slots): lesson 07's two-city
request gave 200 tokens cut off at the limit when sent alone (three times) and after one other request, and
144 tokens ending in tool calls while three other requests ran. A lesson that sends requests at once
(05's ``asyncio.gather``, 13's and 16's ``map_bounded``) would record answers that depend on timing.

So while recording, each exchange (request sent and whole response read, as vcrpy reads it anyway) holds a
lock: threads of the kernel wait in line in the order they came (so the recording's order repeats), calls
made by ``map_bounded`` in the order of its items (arrival order alone depends on how busy the machine is),
tasks of one event loop on an asyncio lock, and other record processes of this checkout on a file lock. The lesson's
own concurrency is unchanged (its calls still overlap; only their HTTP waits in line). Replay and live runs
are not affected. Someone else's requests to the same server (a room, a rehearsal) are not covered: record
on a server nobody else is using.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: threads and tasks still wait in line; other processes are not covered
    fcntl = None  # type: ignore[assignment]

import vcr.patch

LOCK_FILE = Path(__file__).resolve().parents[2] / ".cache" / "record-exchange.lock"

SETTLE_SECONDS = 0.02
"""How long a free line waits for other threads that set off at the same moment (map_bounded's first calls)."""


def _start_order(thread: threading.Thread) -> tuple[object, ...]:
    """Threads started earlier first: pool threads are named ``…_0``, ``…_1``, plain ones ``Thread-3 (…)``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", thread.name))


class ItemsInOrder:
    """The items of one ``map_bounded`` run: an exchange made for item i waits in line until every earlier
    item has finished, so the items reach the server in input order however the pool's threads are scheduled.
    Outside a recording nothing waits (only the exchange lock consults this)."""

    def __init__(self, count: int) -> None:
        self._unfinished = set(range(count))

    def may_go(self, index: int) -> bool:
        return index == min(self._unfinished)

    @contextlib.contextmanager
    def item(self, index: int) -> Iterator[None]:
        """Around the call for item ``index``, in the thread that makes it."""
        _current_item.tag = (self, index)
        try:
            yield
        finally:
            _current_item.tag = None
            with _thread_line.condition:
                self._unfinished.discard(index)
                _thread_line.condition.notify_all()


_current_item = threading.local()


class _Line:
    """A thread lock that serves waiters in the order they arrived, so a record's exchanges come in the same
    order every time (threading.Lock lets a thread that just let go take it again, or any waiter). Threads
    that arrive at a free line within SETTLE_SECONDS of each other go in the order they were started; an
    item of ``ItemsInOrder`` goes only when its turn has come."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self._tickets = itertools.count()
        # (ticket, start order, thread id, item tag or None)
        self._waiting: list[tuple[int, tuple[object, ...], int, tuple[ItemsInOrder, int] | None]] = []
        self._busy = False

    def _next(self) -> int | None:
        ready = [entry for entry in self._waiting if entry[3] is None or entry[3][0].may_go(entry[3][1])]
        return min(ready, key=lambda entry: (entry[0], entry[1]))[2] if ready else None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        me = threading.get_ident()
        tag: tuple[ItemsInOrder, int] | None = getattr(_current_item, "tag", None)
        with self.condition:
            ticket = next(self._tickets)
            if tag is None and not self._busy and not self._waiting:
                self.condition.release()  # let threads that set off with this one join the line
                try:
                    time.sleep(SETTLE_SECONDS)
                finally:
                    self.condition.acquire()
                ticket = 0  # a settled arrival at a free line: only the start order decides
            self._waiting.append((ticket, _start_order(threading.current_thread()), me, tag))
            while self._busy or self._next() != me:
                self.condition.wait()
            self._waiting = [entry for entry in self._waiting if entry[2] != me]
            self._busy = True
        try:
            yield
        finally:
            with self.condition:
                self._busy = False
                self.condition.notify_all()


_thread_line = _Line()
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def exchange_lock() -> Iterator[None]:
    """Held for one whole exchange: by this thread, and (where the OS has flock) by this process."""
    with _thread_line.held():
        if fcntl is None:
            yield
            return
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK_FILE, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _loop_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _loop_locks:
        _loop_locks[loop] = asyncio.Lock()
    return _loop_locks[loop]


SyncSend = Callable[[Any, Any], Any]
AsyncSend = Callable[[Any, Any], Awaitable[Any]]


def serial_send(real: SyncSend, byte_stream: type) -> SyncSend:
    """``real`` (a transport's ``handle_request``), with the response read whole inside the lock and handed on
    as ``byte_stream`` (the ``ByteStream`` of the same httpx package)."""

    def handle_request(transport: Any, request: Any) -> Any:
        with exchange_lock():
            response = real(transport, request)
            try:
                content = b"".join(response.stream)
            finally:
                response.stream.close()
        response.stream = byte_stream(content)
        return response

    return handle_request


def serial_async_send(real: AsyncSend, byte_stream: type) -> AsyncSend:
    """``real`` (a transport's ``handle_async_request``), likewise. The asyncio lock comes first, so while
    this task waits for the thread and file lock, their holder is another thread or process, never a task
    of this loop that needs the loop to finish."""

    async def handle_async_request(transport: Any, request: Any) -> Any:
        async with _loop_lock():
            with exchange_lock():
                response = await real(transport, request)
                try:
                    content = b"".join([part async for part in response.stream])
                finally:
                    await response.stream.aclose()
        response.stream = byte_stream(content)
        return response

    return handle_async_request


def _transports() -> Iterator[tuple[str, str, type]]:
    """(vcr.patch attribute of the sync send, of the async send, ByteStream) per httpx package vcrpy patches:
    ``httpx2`` (the openai SDK) and ``httpx`` (the zhipuai SDK)."""
    for package, prefix in (("httpx2", "_Httpx2"), ("httpx", "_Httpx")):
        sync_name, async_name = (
            f"{prefix}HttpTransport_handle_request",
            f"{prefix}AsyncHttpTransport_handle_async_request",
        )
        if hasattr(vcr.patch, sync_name) and hasattr(vcr.patch, async_name):
            yield sync_name, async_name, __import__(package).ByteStream


@contextlib.contextmanager
def while_vcr_reads_the_transports() -> Iterator[None]:
    """Around a recording cassette's ``__enter__``: vcrpy takes the "real" sends from vcr.patch then, so
    it takes the serialized ones; vcr.patch itself is put back at once."""
    saved = {}
    for sync_name, async_name, byte_stream in _transports():
        saved[sync_name], saved[async_name] = getattr(vcr.patch, sync_name), getattr(vcr.patch, async_name)
        setattr(vcr.patch, sync_name, serial_send(saved[sync_name], byte_stream))
        setattr(vcr.patch, async_name, serial_async_send(saved[async_name], byte_stream))
    try:
        yield
    finally:
        for name, real in saved.items():
            setattr(vcr.patch, name, real)
