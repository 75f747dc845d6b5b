"""The kernel manager ``make lab`` gives JupyterLab: the server's own, on private Unix sockets
(kernel_transport.py says why). Imported only by the Lab server process."""

from __future__ import annotations

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager

from .kernel_transport import with_private_sockets

LabKernelManager: type[ServerKernelManager] = with_private_sockets(ServerKernelManager)
