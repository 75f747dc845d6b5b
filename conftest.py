"""Every kernel pytest starts (nbval's, and those of tests that run a notebook with nbclient) listens on
Unix sockets only this user can open, not on loopback TCP where another local user could read its
output (tutorial_kit/machinery/kernel_transport.py)."""

from __future__ import annotations

import nbclient
import nbval.kernel

from tutorial_kit.machinery.kernel_transport import PrivateAsyncKernelManager, PrivateKernelManager

nbval.kernel.KernelManager = PrivateKernelManager  # nbval has no option for it: the name it starts kernels with
# nbclient's default kernel manager, for clients that do not name one (traitlets looks the default up here)
nbclient.NotebookClient._kernel_manager_class_default = lambda self: PrivateAsyncKernelManager
