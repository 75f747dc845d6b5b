"""Kernels the project starts listen on Unix sockets in a private folder, not on loopback TCP.

Over TCP every local user can connect to a kernel's ports, and reading its output channel (iopub)
needs no key: on a shared workshop machine another user could watch each cell's code and output.
ZeroMQ's ``ipc`` transport puts every channel on a Unix socket instead, and these live in a folder
only this user can enter, so nobody else can connect. ``make lab`` (lab_kernels.py), ``make record``
and ``make rehearse`` (executor.py) and the tests (conftest.py, for nbval) all start kernels through
these managers. Windows has no ``ipc`` transport: kernels there stay on TCP loopback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import zmq
from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_client.localinterfaces import localhost
from traitlets import default

from . import kernel_forks

TRANSPORT = "ipc" if os.name != "nt" and zmq.has("ipc") else "tcp"


def socket_dir() -> Path:
    """A folder only this user can enter, with a short path (a Unix socket's path must stay under
    about 100 bytes, so not the Jupyter runtime folder under a long home directory)."""
    folder = Path(kernel_forks.shared_folder())
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if not kernel_forks.is_private(str(folder)):  # someone else made it, or a link: take a fresh one of our own
        folder = Path(tempfile.mkdtemp(prefix="tutorial-kernels-"))
    return folder


def socket_prefix() -> str:
    """Where one kernel's five sockets go: ``<prefix>-1`` to ``<prefix>-5``."""
    return str(socket_dir() / f"k-{uuid.uuid4().hex[:12]}")


def with_private_sockets(base: Any) -> Any:
    """``base`` with the transport and socket place above as its defaults (configuration still wins).
    Under ``make test`` (its switch, ``KERNEL_FORKS=1``) ipykernel is started through kernel_forks.py; a
    learner's ``make lab`` and a maintainer's ``make record`` start it with its own command."""

    class Private(base):  # type: ignore[misc,valid-type]
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return kernel_forks.wrap(super().format_kernel_cmd(extra_arguments))

        @default("transport")
        def _private_transport_default(self) -> str:
            return TRANSPORT

        @default("ip")
        def _private_ip_default(self) -> str:
            return socket_prefix() if self.transport == "ipc" else localhost()

    Private.__name__ = Private.__qualname__ = f"Private{base.__name__}"
    return Private


PrivateKernelManager: type[KernelManager] = with_private_sockets(KernelManager)
"""For blocking clients (nbval)."""
PrivateAsyncKernelManager: type[AsyncKernelManager] = with_private_sockets(AsyncKernelManager)
"""For nbclient and papermill (make record, make rehearse)."""
