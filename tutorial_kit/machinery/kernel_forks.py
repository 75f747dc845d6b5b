"""Kernels for ``make test`` forked from a process that has already imported them (Linux only).

Every kernel the suite starts spends about 0.8 s of CPU before a lesson's first line runs: ipykernel and
IPython (0.3 s) and then ``from openai import OpenAI`` (0.45 s, mostly pydantic building the SDK's
types). The suite starts some sixty such kernels (nbval, make record, make rehearse, the request check,
and the Lab tests' Run All of every lesson), and a request check with a cold cache starts fifty-one more.

With ``KERNEL_FORKS=1`` (``make test`` sets it; nothing else does, so a learner's ``make lab`` and a
maintainer's ``make record`` start kernels the usual way), a kernel manager of kernel_transport.py
starts, instead of ``python -m ipykernel_launcher ...``, this file as a small relay
(``python -I -S kernel_forks.py -- python -m ipykernel_launcher ...``, standard library only). The
relay asks a fork server that has imported ipykernel, IPython and the SDK to fork a child; the child
takes the relay's standard streams, environment, working folder, umask, resource limits and ignored
signals, starts a session of its own, and runs ``ipykernel_launcher`` as ``python -m`` would. It is the
same ipykernel, running the same code; only the imports were done before the fork. The server records which
environment variables those imports read: a kernel whose environment differs in one of them (a test that
sets HOME or PATH, say) is not forked but started the usual way.

To the kernel manager the relay is the kernel process: signals sent to its process group (interrupt,
terminate, kill) are forwarded to the kernel's group, and it exits as the kernel exited (same code, same
signal). When the relay dies (SIGKILL), the server kills the kernel's group; when the relay's parent dies,
the relay does (ipykernel's own parent check sees the server, not the manager). Where anything is missing
(no server yet, a folder that is not private, another platform), the relay starts the kernel the usual
way with ``exec``. The first relay to find no server starts one (detached) and waits for its imports.

A server serves one interpreter with its installed packages and the variables read before Python code runs
(``BASELINE_PREFIXES``, hashed into its socket's name). It exits after ``IDLE_SECONDS`` without kernels, or
when ``make test`` ends (``stop_servers``). Its socket lives in kernel_transport.py's private folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import selectors
    from collections.abc import Iterator
    from typing import Any

ENABLE_ENV = "KERNEL_FORKS"
IDLE_SECONDS = 300.0
PRE_IMPORTED = (
    # what every kernel imports on its way to idle (ipykernel, IPython, its debugger and history), then the
    # first lines of every lesson (the SDK, dotenv, and the kit's recording library)
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "IPython",
    "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect", "IPython.core.logger",
    "IPython.extensions.storemagic", "IPython.utils.wildcard", "sqlite3", "pdb", "pydoc", "http.server",
    "xmlrpc.server", "faulthandler", "tornado.platform.asyncio", "tornado.queues", "tornado.locks",
    "openai", "dotenv", "vcr", "yaml",
)  # fmt: skip
BASELINE_PREFIXES = ("PYTHON", "LD_", "LANG", "LC_", "TZ", "MALLOC_", "OPENSSL", "SSL_", "ZMQ")
"""Variables in a server's name: read by the interpreter or by C libraries as they start (unseen by os.environ)."""
READ_AGAIN_AFTER_FORK = {"JPY_PARENT_PID"}
"""Read by ipykernel when imported (its parent-process default), and read again for each kernel."""
STARTUP_WAIT = 60.0
"""Seconds a relay waits for a server it started (its imports take about a second) before it starts the
kernel the usual way."""
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
LIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_STACK")
MESSAGE_LIMIT = 1 << 20


def available() -> bool:
    return sys.platform == "linux" and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET")


def wrap(command: list[str]) -> list[str]:
    """The relay's command for a kernel command, when forks are on and the command is ipykernel's."""
    if os.environ.get(ENABLE_ENV) != "1" or not available() or command[1:3] != ["-m", "ipykernel_launcher"]:
        return command
    return [command[0], "-I", "-S", os.path.abspath(__file__), "--", *command]


# --- shared by relay and server ---------------------------------------------------------------------------


def shared_folder() -> str:
    """Where the kit's kernels put their sockets (kernel_transport.socket_dir()) and fork servers theirs."""
    return os.path.join(tempfile.gettempdir(), f"tutorial-kernels-{os.getuid()}")


def is_private(folder: str) -> bool:
    """A real folder (not a link) of this user's that no one else can enter."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _private_folder() -> str | None:
    folder = shared_folder()
    return folder if is_private(folder) else None


def _environment_key(env: dict[str, str]) -> str:
    """The server's name: interpreter, installed packages, this file, the baseline variables. The other
    variables its imports read are checked per kernel (``_differences``)."""
    site = os.path.join(sys.prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
    stamps = []
    for path in (site, os.path.abspath(__file__)):
        with contextlib.suppress(OSError):
            info = os.stat(path)
            stamps.append((path, info.st_mtime_ns, info.st_size))
    kept = sorted((name, value) for name, value in env.items() if name.startswith(BASELINE_PREFIXES))
    text = json.dumps([os.path.realpath(sys.executable), sys.version, stamps, kept])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- relay --------------------------------------------------------------------------------------------------


def _shadowed(cwd: str) -> bool:
    """A module in the kernel's folder that a normal start would import instead of the server's."""
    names = {name.split(".")[0] for name in PRE_IMPORTED}
    return any(os.path.exists(os.path.join(cwd, entry)) for name in names for entry in (name, f"{name}.py"))


def _start_server(path: str) -> None:
    """Start the server detached (its own session, not this process's child): this process is about to
    become a kernel, which should neither reap it nor take it down."""
    env = {name: value for name, value in os.environ.items() if name not in READ_AGAIN_AFTER_FORK}
    command = [sys.executable, os.path.abspath(__file__), "serve", path]
    with contextlib.suppress(OSError):
        middle = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPAWN, *command],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/", env=env,
        )  # fmt: skip
        middle.wait()


SPAWN = "import subprocess, sys; subprocess.Popen(sys.argv[1:], start_new_session=True)"


def _connect(path: str) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    return connection


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """The lock beside a server's socket: who starts a server, and who binds its socket, one at a time."""
    import fcntl

    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _server_connection(path: str) -> socket.socket | None:
    """A connection to the server for this environment, started first if none runs (one starter at a time:
    the others wait for it)."""
    connection = _connect(path)
    if connection is not None:
        return connection
    marker = path + ".starting"
    with _locked(path):
        connection = _connect(path)
        if connection is not None:
            return connection
        try:
            starting = time.time() - os.stat(marker).st_mtime < STARTUP_WAIT
        except OSError:
            starting = False
        if not starting:
            with open(marker, "w"):
                pass
            _start_server(path)
    deadline = time.monotonic() + STARTUP_WAIT
    while time.monotonic() < deadline:
        connection = _connect(path)
        if connection is not None:
            return connection
        time.sleep(0.02)
    return None


def _exec_kernel(command: list[str]) -> NoReturn:
    os.execv(command[0], command)


def relay(command: list[str]) -> int:
    folder = _private_folder()
    cwd = os.getcwd()
    if folder is None or _shadowed(cwd):
        _exec_kernel(command)
    path = os.path.join(folder, f"fork-{_environment_key(dict(os.environ))}.sock")
    connection = _server_connection(path)
    if connection is None:
        _exec_kernel(command)
    import resource

    request = {
        "argv": command,
        "env": dict(os.environ),
        "cwd": cwd,
        "umask": os.umask(0o022),
        # for the kernel to ignore them too, as an exec'd kernel would (the relay itself forwards them all)
        "ignored": [int(number) for number in FORWARDED if signal.getsignal(number) == signal.SIG_IGN],
        "limits": {name: resource.getrlimit(getattr(resource, name)) for name in LIMITS if hasattr(resource, name)},
    }
    os.umask(request["umask"])
    try:
        socket.send_fds(connection, [json.dumps(request).encode()], [0, 1, 2])
        reply = json.loads(connection.recv(MESSAGE_LIMIT) or b"null")
    except (OSError, ValueError):
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
        connection.close()
        _exec_kernel(command)  # refused (an environment the imports read differently) or gone: nothing forked
    kernel = reply["pid"]

    def forward(number: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(kernel, number)

    for number in FORWARDED:  # even one this relay inherited as ignored: the kernel decides (ipykernel
        signal.signal(number, forward)  # handles SIGINT itself while a cell runs, ignored at start or not)
    parent = os.getppid()
    connection.settimeout(1.0)
    status = None
    while status is None:
        try:
            data = connection.recv(MESSAGE_LIMIT)
        except TimeoutError:
            if os.getppid() != parent:  # the kernel manager died: so does its kernel, as ipykernel would
                with contextlib.suppress(OSError):
                    os.killpg(kernel, signal.SIGKILL)
                return 1
            continue
        except InterruptedError:
            continue
        if not data:  # the server died: the kernel must not outlive it unseen
            with contextlib.suppress(OSError):
                os.killpg(kernel, signal.SIGKILL)
            return 1
        status = json.loads(data).get("status")
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1


# --- server -------------------------------------------------------------------------------------------------


class _Terminated(Exception):
    """Raised in a server sent SIGTERM: it removes its socket and lock on the way out."""


class _Child(Exception):
    """Raised in a forked child to leave the server's loop with the request it is to run."""

    def __init__(self, request: dict[str, object]) -> None:
        super().__init__()
        self.request = request


def _listen(path: str) -> socket.socket | None:
    """Bind the socket unless a live server already has it (serialised by a lock beside it)."""
    with _locked(path):
        existing = _connect(path)
        if existing is not None:
            existing.close()
            return None  # another server answers
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(64)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".starting")
        return listener


def _import_recording_environment() -> dict[str, str | None]:
    """Import PRE_IMPORTED; return the environment variables those imports read (through os.environ), each with
    the value it had when first read (None: unset). A module that read the whole environment makes every
    variable count. Variables the imports set are kept in ``SET_BY_IMPORTS`` for the kernels."""
    read: dict[str, str | None] = {}

    class Recording(os._Environ):  # type: ignore[name-defined,misc]
        def __getitem__(self, key: str) -> str:
            try:
                value = super().__getitem__(key)
            except KeyError:
                read.setdefault(key, None)
                raise
            read.setdefault(key, value)
            return value

        def __iter__(self) -> Any:
            for key in list(super().__iter__()):
                read.setdefault(key, super().__getitem__(key))
            return super().__iter__()

    before = dict(os.environ)
    usual = os.environ.__class__
    os.environ.__class__ = Recording
    try:
        for name in PRE_IMPORTED:
            with contextlib.suppress(ImportError):
                __import__(name)
    finally:
        os.environ.__class__ = usual
    SET_BY_IMPORTS.update({name: value for name, value in os.environ.items() if before.get(name) != value})
    return {
        name: value for name, value in read.items() if isinstance(name, str) and name not in READ_AGAIN_AFTER_FORK
    }


SET_BY_IMPORTS: dict[str, str] = {}
"""Set in os.environ by the server's imports (pydevd sets PYDEVD_USE_FRAME_EVAL): as in a kernel that imported
them itself, each forked kernel's environment has them too."""


def _differences(read: dict[str, str | None], env: dict[str, str]) -> list[str]:
    """Variables the server's imports read whose value differs in a kernel's environment."""
    return [name for name, value in read.items() if env.get(name) != value]


def serve(path: str) -> dict[str, object] | None:
    """Serve until idle; returns (only in a forked child) the request that child is to run."""
    import selectors

    del sys.path[0]  # this file's folder: modules are found as the kernel would find them
    read = _import_recording_environment()
    import gc
    import threading

    forkable = threading.active_count() == 1
    gc.freeze()  # the imported objects stay out of the collector's way: fewer pages copied after a fork
    listener = _listen(path)
    if listener is None:
        return None
    identity = os.stat(path).st_ino
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, _terminate)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    kernels: dict[int, socket.socket] = {}
    idle_since = time.monotonic()
    stopping = False
    try:
        while kernels or (not stopping and time.monotonic() - idle_since < IDLE_SECONDS):
            for key, _ in selector.select(timeout=5.0):
                if key.data == "listen":
                    if _accept(listener, selector, kernels, read if forkable else None) == "stop":
                        stopping = True  # no new kernels; the running ones finish
                        selector.unregister(listener)
                        listener.close()
                        _unlink_if_ours(path, identity)
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                else:  # the relay hung up (it died): the kernel goes too
                    selector.unregister(key.fileobj)
                    with contextlib.suppress(OSError):
                        os.killpg(key.data, signal.SIGKILL)
            _reap(kernels, selector)
            if kernels:
                idle_since = time.monotonic()
    except _Terminated:
        pass  # its kernels' relays see it hang up, and kill them
    except _Child as child:
        signal.set_wakeup_fd(-1)
        selector.close()
        for descriptor in (wake_read, wake_write):
            os.close(descriptor)
        listener.close()
        for other in kernels.values():
            other.close()
        return child.request
    _unlink_if_ours(path, identity)
    return None


def _terminate(_number: int, _frame: object) -> None:
    raise _Terminated


def _unlink_if_ours(path: str, identity: int) -> None:
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == identity:
            os.unlink(path)
            os.unlink(path + ".lock")


def _accept(
    listener: socket.socket,
    selector: selectors.BaseSelector,
    kernels: dict[int, socket.socket],
    read: dict[str, str | None] | None,
) -> str | None:
    """One relay's request: fork its kernel, if the variables the imports read (``read``; None: cannot fork)
    are the same in its environment. Or a request to stop, from stop_servers()."""
    import selectors  # imported by serve() already; the relay, which never gets here, does without it

    connection, _ = listener.accept()
    descriptors: list[int] = []
    try:
        data, descriptors, _flags, _address = socket.recv_fds(connection, MESSAGE_LIMIT, 3)
        request = json.loads(data)
    except (OSError, ValueError):
        request = None
    if isinstance(request, dict) and request.get("stop") == os.path.abspath(sys.executable):
        connection.close()
        return "stop"
    # not a kernel's request; threads started by an import (forking would copy them half-way); or a kernel whose
    # environment differs in a variable the imports read: refused, and the relay starts it the usual way
    kernel_request = len(descriptors) == 3 and isinstance(request, dict)
    if not kernel_request or read is None or _differences(read, request.get("env") or {}):
        for descriptor in descriptors:
            os.close(descriptor)
        with contextlib.suppress(OSError):
            connection.send(json.dumps({"pid": None}).encode())
        connection.close()
        return None
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the server's handler is not the kernel's
        os.setsid()  # before the relay learns the pid: every signal it forwards reaches the kernel's group
        os.close(ready_write)
        os.close(ready_read)
        connection.close()
        for number, descriptor in enumerate(descriptors):
            os.dup2(descriptor, number)
            os.close(descriptor)
        raise _Child(request)
    os.close(ready_write)
    os.read(ready_read, 1)  # end of file once the child has its own session
    os.close(ready_read)
    for descriptor in descriptors:
        os.close(descriptor)
    try:
        connection.send(json.dumps({"pid": pid}).encode())
    except OSError:
        os.killpg(pid, signal.SIGKILL)
    kernels[pid] = connection
    selector.register(connection, selectors.EVENT_READ, pid)
    return None


def stop_servers(executable: str) -> int:
    """Ask every fork server of ``executable`` (a clone's venv Python) to stop; those of other clones and
    interpreters ignore it. Each exits once its running kernels have. Returns how many were asked."""
    folder = _private_folder()
    if folder is None or not available():
        return 0
    asked = 0
    for name in sorted(os.listdir(folder)):
        if name.startswith("fork-") and name.endswith(".sock"):
            connection = _connect(os.path.join(folder, name))
            if connection is not None:
                with contextlib.suppress(OSError), connection:
                    connection.send(json.dumps({"stop": os.path.abspath(executable)}).encode())
                    asked += 1
    return asked


def _reap(kernels: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = kernels.pop(pid, None)
        if connection is None:
            continue
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(connection)
        with contextlib.suppress(OSError):
            connection.send(json.dumps({"status": status}).encode())
        connection.close()


def become_kernel(request: dict[str, object]) -> None:
    """In the forked child: take on the relay's process state, then run ipykernel as ``python -m`` does."""
    import resource
    import runpy
    import types

    for number in (*FORWARDED, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    for number in request["ignored"]:  # type: ignore[union-attr]
        signal.signal(number, signal.SIG_IGN)
    if signal.getsignal(signal.SIGINT) == signal.SIG_DFL:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for name, (soft, hard) in request["limits"].items():  # type: ignore[union-attr]
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(getattr(resource, name), (soft, hard))
    os.umask(int(request["umask"]))  # type: ignore[call-overload]
    cwd = str(request["cwd"])
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    os.environ.update(SET_BY_IMPORTS)
    argv = list(request["argv"])  # type: ignore[call-overload]
    sys.path.insert(0, cwd)
    sys.argv = [argv[0], *argv[3:]]
    from ipykernel.kernelapp import IPKernelApp

    # read from the environment when ipykernel was imported, in the server: read it again for this kernel
    parent = int(os.environ.get("JPY_PARENT_PID") or 0)
    IPKernelApp.class_traits()["parent_handle"].default_value = parent
    IPKernelApp._static_immutable_initial_values["parent_handle"] = parent  # traitlets' copy of the default
    # as in a kernel started the usual way, no module of the kit is loaded yet (the request check lists them)
    sys.modules["__main__"] = types.ModuleType("__main__")
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        return relay(argv[1:])
    if argv[:1] == ["serve"] and len(argv) == 2:
        request = serve(argv[1])
        if request is not None:
            become_kernel(request)
        return 0
    print("用法：kernel_forks.py -- python -m ipykernel_launcher ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
