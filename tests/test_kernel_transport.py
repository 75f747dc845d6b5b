"""Another Unix user cannot read a running lesson (issue 22): the kernels the project starts listen on
Unix sockets in a folder only their user can enter, not on loopback TCP.

The proof starts a kernel exactly as nbval does here and lets a second, unprivileged user try to
subscribe to its output channel (iopub: reading needs no key) with a small ZMTP client, while the
kernel runs a cell. Over TCP that user captured the cell's code and output; now it cannot connect.
It needs root (to add and become that user) and a system Python; elsewhere it skips with one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tutorial_kit.machinery import kernel_transport, lab
from tutorial_kit.machinery.lab_kernels import LabKernelManager

SPY_USER = "tutorial-spy"
SPY_PYTHON = "/usr/bin/python3"
MARK = "kernel-transport-secret"
# Connects as a ZMTP 3.0 SUB socket (NULL mechanism), subscribes to everything, prints what arrives.
SPY = r"""
import socket, struct, sys, time
transport, address = sys.argv[1], sys.argv[2]
try:
    if transport == "ipc":
        peer = socket.socket(socket.AF_UNIX)
        peer.connect(address)
    else:
        host, port = address.rsplit(":", 1)
        peer = socket.create_connection((host, int(port)))
except OSError as error:
    print("CONNECT-FAILED", type(error).__name__, flush=True)
    sys.exit(0)
peer.settimeout(8)
peer.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32)
greeting = b""
while len(greeting) < 64:
    greeting += peer.recv(64 - len(greeting))
body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 3) + b"SUB"
peer.sendall(bytes([0x04, len(body)]) + body + bytes([0x00, 1]) + b"\x01")
print("SUBSCRIBED", flush=True)
seen, end = b"", time.time() + 8
while time.time() < end:
    try:
        data = peer.recv(65536)
    except OSError:
        break
    if not data:
        break
    seen += data
print("SEEN", seen.decode("utf-8", "replace").replace("\n", " "), flush=True)
"""


def _spy_skip_reason() -> str | None:
    if os.name == "nt" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "第二个用户的测试跳过：需要 root（用来添加并切换到另一个用户）"
    if not Path(SPY_PYTHON).is_file():
        return f"第二个用户的测试跳过：另一个用户需要一个系统自带的 Python（{SPY_PYTHON}）"
    if subprocess.run(["id", SPY_USER], capture_output=True, check=False).returncode != 0:
        useradd = shutil.which("useradd")
        made = useradd and subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SPY_USER],
            capture_output=True, check=False,
        ).returncode == 0  # fmt: skip
        if not made:
            return "第二个用户的测试跳过：这台机器不能添加用户（useradd）"
    return None


@pytest.mark.timeout(180)
def test_another_user_cannot_read_a_running_kernel() -> None:
    reason = _spy_skip_reason()
    if reason:
        pytest.skip(reason)
    import nbval.kernel

    manager, client = nbval.kernel.start_new_kernel(startup_timeout=120, kernel_name="python3")
    try:
        info = manager.get_connection_info()
        if info["transport"] == "ipc":
            address = f"{info['ip']}-{info['iopub_port']}"
        else:
            address = f"{info['ip']}:{info['iopub_port']}"
        spy = subprocess.Popen(
            [SPY_PYTHON, "-I", "-c", SPY, info["transport"], address],
            user=SPY_USER, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert spy.stdout is not None
        first = spy.stdout.readline()
        if first.startswith("SUBSCRIBED"):
            time.sleep(1)
        client.execute_interactive(f"print('{MARK}-output')  # {MARK}-code", timeout=60)
        rest, _ = spy.communicate(timeout=30)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    seen = first + rest
    assert MARK not in seen, f"user {SPY_USER} read the kernel: {seen[:300]}"
    assert info["transport"] == "ipc" and first.startswith("CONNECT-FAILED PermissionError"), seen[:300]


def test_the_sockets_folder_is_private_and_a_foreign_one_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernel_transport.tempfile, "tempdir", str(tmp_path))
    folder = kernel_transport.socket_dir()
    assert folder.parent == tmp_path and folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o755)  # loosened by someone: not trusted any more
    again = kernel_transport.socket_dir()
    assert again != folder and again.stat().st_mode & 0o777 == 0o700


def test_lab_record_rehearse_and_nbval_start_kernels_on_private_sockets() -> None:
    import nbval.kernel

    from tutorial_kit.machinery import executor

    assert kernel_transport.TRANSPORT == "ipc"
    assert len(kernel_transport.socket_prefix() + "-5") < 100  # a Unix socket path's limit is about 107 bytes
    kernel_class = "tutorial_kit.machinery.lab_kernels.LabKernelManager"
    assert f"--AsyncMappingKernelManager.kernel_manager_class={kernel_class}" in lab.lab_arguments()
    lab_manager = LabKernelManager(connection_file=str(Path(kernel_transport.socket_dir()) / "kernel-x.json"))
    assert lab_manager.transport == "ipc" and lab_manager.ip.startswith(str(kernel_transport.socket_dir()))
    assert executor.PrivateAsyncKernelManager is kernel_transport.PrivateAsyncKernelManager
    assert nbval.kernel.KernelManager is kernel_transport.PrivateKernelManager  # the project's conftest.py
    import nbclient
    import nbformat

    client = nbclient.NotebookClient(nbformat.v4.new_notebook())  # tests that run a notebook themselves
    assert client.kernel_manager_class is kernel_transport.PrivateAsyncKernelManager
