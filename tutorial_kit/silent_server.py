"""A loopback server that accepts connections and never answers: a timeout, for real.

A slow model cannot be replayed (a recording has no notion of waiting), so the timeout
lesson points the SDK here instead: the operating system completes the TCP handshake from
the listen backlog, the request is sent, and no byte ever comes back, so the client's own
timeout fires in every mode, on every machine, with the same exception.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from .machinery.recording import PASSTHROUGH_NETLOCS


@contextmanager
def silent_server() -> Iterator[str]:
    """Yield a base URL (``http://127.0.0.1:<port>/v1``) whose server never replies."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    netloc = f"127.0.0.1:{listener.getsockname()[1]}"
    PASSTHROUGH_NETLOCS.add(netloc)  # never recorded, never looked up in a cassette
    try:
        yield f"http://{netloc}/v1"
    finally:
        PASSTHROUGH_NETLOCS.discard(netloc)
        listener.close()
