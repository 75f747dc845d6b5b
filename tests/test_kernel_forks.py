"""Kernels forked from a pre-imported server under ``make test`` (kernel_forks.py) behave as kernels started
the usual way: they run in the folder and environment the manager gave them, are interrupted, killed and shut
down through the relay the manager sees as the kernel process, and never outlive their relay or manager."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tutorial_kit.machinery import kernel_forks
from tutorial_kit.machinery.kernel_transport import PrivateKernelManager
from tutorial_kit.machinery.lab_kernels import LabKernelManager

pytestmark = pytest.mark.skipif(not kernel_forks.available(), reason="kernel_forks.py：只在 Linux 上使用")

PROBE = (
    "import json, os, sys\n"
    "print(json.dumps({'pid': os.getpid(), 'cwd': os.getcwd(), 'marker': os.environ.get('FORK_TEST_MARKER'),"
    " 'log': os.environ.get('OPENAI_LOG'),"
    " 'argv0': sys.argv[0], 'openai_loaded': 'openai' in sys.modules, 'session_leader': os.getsid(0) == os.getpid()}))"
)


def _run(client: Any, code: str, timeout: float = 60) -> tuple[dict[str, Any], str]:
    printed: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)
    return reply["content"], "".join(printed)


def _start(cwd: Path) -> tuple[PrivateKernelManager, Any, dict[str, Any]]:
    manager = PrivateKernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    return manager, client, json.loads(_run(client, PROBE)[1])


@pytest.fixture
def forks_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_forks.ENABLE_ENV, "1")
    monkeypatch.setenv("FORK_TEST_MARKER", "from-the-manager")


Started = tuple[PrivateKernelManager, Any, dict[str, Any]]


@pytest.fixture
def start(forks_on: None, tmp_path: Path) -> Iterator[Callable[[], Started]]:
    """Starts kernels in tmp_path with the environment of the moment; shuts them all down afterwards."""
    started: list[Started] = []

    def starter() -> Started:
        started.append(_start(tmp_path))
        return started[-1]

    yield starter
    for manager, client, _seen in started:
        client.stop_channels()
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(start: Callable[[], Started]) -> Started:
    return start()


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _forked(kernel_pid: int) -> bool:
    return "kernel_forks.py serve" in " ".join(psutil.Process(kernel_pid).parent().cmdline())


def test_a_forked_kernel_runs_where_and_as_the_manager_said(kernel: Any, tmp_path: Path) -> None:
    manager, _client, seen = kernel
    # a server may have to start first: the first kernel of a new environment waits for it, then forks
    assert _forked(seen["pid"]), "the kernel was not forked from the server"
    assert seen["openai_loaded"], "the SDK was not imported before the fork"
    assert seen["cwd"] == str(tmp_path)
    assert seen["marker"] == "from-the-manager"
    assert seen["argv0"].endswith("ipykernel_launcher.py")
    assert seen["session_leader"], "the kernel must lead its own process group, as a normally started one does"
    assert manager.provisioner.pid != seen["pid"]  # the manager holds the relay


def test_interrupt_reaches_the_forked_kernel(kernel: Any) -> None:
    manager, client, _seen = kernel
    message_id = client.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
    while True:  # interrupt once the cell runs (an interrupt while idle does nothing), however loaded the machine
        message = client.get_iopub_msg(timeout=60)
        if message["msg_type"] == "stream" and "sleeping" in message["content"]["text"]:
            break
    started = time.monotonic()
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == message_id
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 15


def test_shutdown_ends_relay_and_kernel_with_exit_code_0(kernel: Any) -> None:
    manager, _client, seen = kernel
    relay = manager.provisioner.process
    manager.shutdown_kernel(now=False)
    assert relay.returncode == 0
    assert _gone(seen["pid"])


def test_killing_the_relay_kills_the_kernel(kernel: Any) -> None:
    manager, _client, seen = kernel
    os.killpg(manager.provisioner.pgid, signal.SIGKILL)  # what the manager's kill does
    assert _gone(seen["pid"]), "the forked kernel outlived its relay"


MANAGER_THAT_DIES = """
import json, os, sys
from tutorial_kit.machinery.kernel_transport import PrivateKernelManager
manager = PrivateKernelManager(kernel_name="python3")
manager.start_kernel()
client = manager.client(); client.start_channels(); client.wait_for_ready(timeout=120)
printed = []
code = "import os, psutil; print(os.getpid(), 'kernel_forks.py serve' in ' '.join(psutil.Process().parent().cmdline()))"
client.execute_interactive(code, timeout=60,
    output_hook=lambda m: printed.append(m["content"]["text"]) if m["msg_type"] == "stream" else None)
print("".join(printed).strip(), flush=True)
os._exit(0)
"""


def test_a_kernel_does_not_outlive_its_manager(forks_on: None, tmp_path: Path) -> None:
    """ipykernel stops when the process that started it dies; a forked kernel's parent is the server, so the
    relay watches the manager instead."""
    printed = tmp_path / "manager.out"  # a file, not a pipe: a kernel left alive would hold a pipe open
    with printed.open("w") as out:
        subprocess.run([sys.executable, "-c", MANAGER_THAT_DIES], stdout=out, timeout=180, check=True)
    pid, forked = printed.read_text().split()[-2:]
    assert forked == "True", printed.read_text()
    pid = int(pid)
    assert _gone(pid, 15), "the forked kernel outlived the manager that started it"


def test_without_the_switch_kernels_start_the_usual_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner's make lab and a maintainer's make record have no switch (test_lab_launcher.py starts a real
    make lab kernel); make test's nbval, record, rehearse and Lab kernels have it."""
    command = [sys.executable, "-m", "ipykernel_launcher", "-f", "kernel.json"]
    managers = [LabKernelManager(kernel_name="python3"), PrivateKernelManager(kernel_name="python3")]
    for manager in managers:
        manager.connection_file = "kernel.json"
    monkeypatch.delenv(kernel_forks.ENABLE_ENV, raising=False)
    assert kernel_forks.wrap(command) == command
    assert not any("kernel_forks.py" in " ".join(manager.format_kernel_cmd()) for manager in managers)
    monkeypatch.setenv(kernel_forks.ENABLE_ENV, "1")
    assert kernel_forks.wrap(command)[-len(command) :] == command
    assert kernel_forks.wrap(["other-kernel", "-f", "kernel.json"]) == ["other-kernel", "-f", "kernel.json"]
    assert all("kernel_forks.py" in " ".join(manager.format_kernel_cmd()) for manager in managers)


def test_a_server_stops_when_asked_by_its_interpreter_only(kernel: Any) -> None:
    manager, _client, seen = kernel
    server = psutil.Process(seen["pid"]).parent()
    kernel_forks.stop_servers("/nonexistent/python")
    time.sleep(0.5)
    assert server.is_running()
    kernel_forks.stop_servers(server.cmdline()[0])
    time.sleep(0.5)
    assert server.is_running(), "a server with a running kernel stopped before the kernel did"
    manager.shutdown_kernel(now=False)
    assert _gone(server.pid), "the server did not stop once its last kernel had"


def test_a_kernel_whose_environment_differs_in_what_the_imports_read_starts_the_usual_way(
    start: Callable[[], Started], monkeypatch: pytest.MonkeyPatch
) -> None:
    """openai reads OPENAI_LOG when it is imported (to set up its logger): a kernel that sets it must import
    openai itself, so it is not forked from a server that imported openai without it."""
    assert _forked(start()[2]["pid"])
    monkeypatch.setenv("OPENAI_LOG", "info")
    manager, _client, seen = start()
    assert seen["log"] == "info"
    assert not _forked(seen["pid"]) and not seen["openai_loaded"]
    assert seen["pid"] == manager.provisioner.pid  # the relay became the kernel (exec)


def test_a_terminated_server_takes_its_kernels_and_leaves_no_socket(
    start: Callable[[], Started], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM to a server (a maintainer's kill, a session's end): its kernels end through their relays, and
    its socket and lock go with it, so no file is left for a later run to find dead."""
    monkeypatch.setenv("PYTHON_FORK_TEST", "own server")  # in the socket's name: other tests' servers are untouched
    _manager, _client, seen = start()
    assert _forked(seen["pid"])
    server = psutil.Process(seen["pid"]).parent()
    path = server.cmdline()[-1]
    assert os.path.exists(path) and os.path.exists(path + ".lock")
    server.terminate()
    assert _gone(server.pid), "the server did not stop on SIGTERM"
    assert _gone(seen["pid"]), "a kernel outlived its terminated server"
    assert not os.path.exists(path) and not os.path.exists(path + ".lock")
