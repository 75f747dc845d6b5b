"""Every kernel pytest starts for nbval listens on Unix sockets only this user can open, not on
loopback TCP where another local user could read its output (tutorial_kit/machinery/kernel_transport.py)."""

from __future__ import annotations

import nbval.kernel

from tutorial_kit.machinery.kernel_transport import PrivateKernelManager

nbval.kernel.KernelManager = PrivateKernelManager  # nbval has no option for it: the name it starts kernels with
