"""Run inside the sandbox process, before the untrusted code (stdlib only, run by path).

Usage: python -I -B sandbox_guard.py SCRIPT. An audit hook refuses writes, deletes and
renames outside the current directory, reads outside it and Python's own install,
starting processes, sockets and ctypes. Audit hooks are a teaching guard, not a
security boundary against a determined attacker: real isolation needs a container or VM.
"""

import os
import runpy
import sys

WORKDIR = os.path.realpath(os.getcwd())
READABLE = tuple(
    os.path.realpath(path)
    for path in {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64", "/etc/localtime"}
)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
    "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile",
}  # fmt: skip
BLOCKED_PREFIXES = (
    "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "pty.", "socket.connect", "socket.bind", "socket.sendto", "ctypes.",
    "os.putenv", "os.unsetenv", "sys.addaudithook", "winreg.",
)  # fmt: skip


def _within(path, roots):
    real = os.path.realpath(os.fsdecode(path))
    return any(real == root or real.startswith(root + os.sep) for root in roots)


def _refuse(what):
    raise PermissionError(f"sandbox: {what} is not allowed")


def _guard(event, args):
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        writing = bool(mode and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        if writing and not _within(path, (WORKDIR,)):
            _refuse(f"writing {os.fsdecode(path)!r} outside the work directory")
        if not writing and not _within(path, (WORKDIR, "/dev/null", "/dev/urandom", *READABLE)):
            _refuse(f"reading {os.fsdecode(path)!r}")
    elif event in PATH_EVENTS:
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)) and not _within(arg, (WORKDIR,)):
                _refuse(f"{event} on {os.fsdecode(arg)!r}")
    elif event.startswith(BLOCKED_PREFIXES):
        _refuse(event)


if __name__ == "__main__":
    script = os.path.realpath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.addaudithook(_guard)
    runpy.run_path(script, run_name="__main__")
