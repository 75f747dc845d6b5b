"""make lab's launcher: when it opens the learner's browser, and what it starts Lab with."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tutorial_kit.machinery import kernel_forks, lab, local_server
from tutorial_kit.machinery.proxies import DIRECT


@pytest.mark.parametrize(
    ("env", "platform", "opens"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "linux", False),  # a console: a text browser would only get in the way
        ({}, "freebsd14", False),
        ({}, "darwin", True),
        ({}, "win32", True),
        ({"DISPLAY": ":0", "CI": "true"}, "linux", False),
        ({"CI": "1"}, "darwin", False),
        ({"CI": "false", "DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": "localhost:10.0", "SSH_CONNECTION": "10.0.0.2 5 10.0.0.1 22"}, "linux", False),
        ({"SSH_TTY": "/dev/pts/1"}, "darwin", False),
    ],
)
def test_the_browser_opens_only_where_the_learner_can_see_it(env: dict[str, str], platform: str, opens: bool) -> None:
    assert lab.can_open_browser(env, platform) is opens


def test_lab_is_started_with_the_browser_choice_and_no_hard_coded_no_browser() -> None:
    assert "--ServerApp.open_browser=True" in lab.lab_arguments(open_browser=True)
    assert "--ServerApp.open_browser=False" in lab.lab_arguments(open_browser=False)
    assert "--no-browser" not in lab.lab_arguments(open_browser=True)


def test_the_server_log_goes_to_a_file_the_tests_can_move(tmp_path: Path) -> None:
    assert lab.log_path({}) == lab.LOG_PATH
    assert lab.log_path({"TUTORIAL_LAB_LOG": str(tmp_path / "x.log")}) == tmp_path / "x.log"


def test_a_proxy_in_the_environment_does_not_hide_the_servers_on_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A learner or teacher behind a proxy (HTTP_PROXY set for pip) runs make lab or make serve-local: the
    command asks its server on 127.0.0.1 whether it is up, directly. Through the proxy it never answered, and
    after two minutes make lab said that JupyterLab had failed to start."""

    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path in ("/api/status", "/health") else 404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    with socket.socket() as closed:  # a proxy address nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert lab._answers(f"http://127.0.0.1:{server.server_port}/", "token")
        assert local_server._healthy("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_the_server_stops_with_its_launcher_and_its_kernel_started_the_usual_way(tmp_path: Path) -> None:
    """A launcher ended by SIGTERM (a test's terminate(), a closed terminal's SIGHUP) leaves no server and no
    kernel behind, and a second SIGTERM while the server shuts down (a process manager, an impatient kill)
    prints no traceback. The kernel is a learner's: started by ipykernel's own command, not forked (only
    ``make test`` sets the switch of kernel_forks.py, and the Lab tests run their lessons in forked kernels)."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "TUTORIAL_LAB_LOG": str(tmp_path / "lab.log")}
    env.pop(kernel_forks.ENABLE_ENV, None)  # as a learner's make lab runs
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = os.urandom(16).hex()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "tutorial_kit.machinery.lab", "--no-browser", f"--port={port}",
         f"--IdentityProvider.token={token}"],
        cwd=lab.PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    started: list[int] = []  # server and kernel: killed if the test fails before make lab has stopped them
    try:
        assert launcher.stdout is not None and launcher.stderr is not None
        first = launcher.stdout.readline()  # printed once the server answers
        assert first.startswith("JupyterLab 已启动"), first
        (info,) = (tmp_path / "rt").glob("jpserver-*.json")
        server = int(info.stem.removeprefix("jpserver-"))
        started.append(server)
        kernel = _started_kernel(f"http://127.0.0.1:{port}/api/kernels", token)
        started.append(kernel.pid)
        assert kernel.ppid() == server and "kernel_forks.py" not in " ".join(kernel.cmdline())
        assert "ipykernel_launcher" in " ".join(kernel.cmdline())
        launcher.terminate()
        time.sleep(0.2)  # the server takes longer than this to shut its kernels down and exit
        launcher.terminate()
        launcher.wait(timeout=60)
        errors = launcher.stderr.read()
        assert launcher.returncode == 0 and "Traceback" not in errors, (launcher.returncode, errors[-600:])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(server):
            time.sleep(0.2)
        assert not _alive(server), "jupyter lab kept running after make lab was ended"
        assert not _alive(kernel.pid), "a kernel kept running after make lab was ended"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in started:  # a killed launcher leaves its server running, and the server its kernel
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _started_kernel(url: str, token: str) -> psutil.Process:
    """Start a kernel through Lab's REST API, as opening a notebook does; its process."""
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps({"name": "python3"}).encode(), headers=headers)
    with DIRECT.open(request, timeout=60) as response:  # answers once the kernel process runs
        kernel_id = json.load(response)["id"]
    (process,) = [
        child for child in psutil.Process(os.getpid()).children(recursive=True)
        if f"kernel-{kernel_id}.json" in " ".join(_command_line(child))
    ]  # fmt: skip
    return process


def _command_line(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # gone, or a zombie not yet reaped (a short-lived helper of the server)
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.is_file() and status.read_text().split(")")[-1].split()[0] == "Z")  # a zombie has exited
