"""Hostile snippets against tutorial_kit.sandbox, each tried for real.

Every case asserts containment (the host's files, environment, processes and network are
untouched, the status is the host's verdict) and that the parent survives with bounded
memory and no stray worker processes. The snippets reach for the worker's JavaScript too,
because Pyodide's FFI hands any code a way to it: ``js.constructor.constructor`` is
JavaScript's Function, which returns the real globalThis (Deno included).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tutorial_kit.sandbox import OUTPUT_LIMIT, RunResult, run_python
from tutorial_kit.sort_check import check_sort_code

SECRET = "sk-planted-0123456789abcdef"
JS = 'import js\nG = js.constructor.constructor("return globalThis")()\n'
HOSTILE_STATUSES = {"error", "syntax_error", "timeout", "memory", "output", "killed"}


@dataclass
class Host:
    """What the sandbox must not reach: a secret file, a victim file, a directory, a
    listening socket, the parent's environment and pid."""

    directory: Path
    secret_file: Path
    victim: Path
    port: int
    connections: list[bytes]
    pid: int

    def untouched(self) -> bool:
        return (
            self.secret_file.read_text() == f"OPENAI_API_KEY={SECRET}\n"
            and self.victim.read_text() == "keep me"
            and sorted(path.name for path in self.directory.iterdir()) == [".env", "victim.txt"]
            and not self.connections
        )


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[bytes]]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append(connection.recv(100))
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def host(tmp_path: Path, listener: tuple[int, list[bytes]], monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    secret_file = tmp_path / ".env"
    secret_file.write_text(f"OPENAI_API_KEY={SECRET}\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    port, connections = listener
    connections.clear()
    before = _children()
    yield Host(tmp_path, secret_file, victim, port, connections, os.getpid())
    time.sleep(0.05)
    extra = _children() - before
    assert len(extra) <= 2, f"stray worker processes: {extra}"  # at most the pool's spares


def _children() -> set[int]:
    """Deno processes whose parent is this test process."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and command == "deno":
            found.add(int(entry.name))
    return found


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _no_secret(result: RunResult) -> bool:
    return SECRET not in result.stdout and SECRET not in result.stderr


Check = Callable[[RunResult, Host], bool]


def refused(result: RunResult, host: Host) -> bool:
    return result.status in HOSTILE_STATUSES and _no_secret(result)


def refused_by_deno(result: RunResult, host: Host) -> bool:
    return result.status == "error" and "NotCapable" in result.stderr and _no_secret(result)


def quiet_ok(result: RunResult, host: Host) -> bool:
    """The code ran to its end without reaching anything."""
    return result.status == "ok" and _no_secret(result) and "root:" not in result.stdout


# (name, code builder, check, run options). Code builders get the Host so they can aim at it.
CASES: list[tuple[str, Callable[[Host], str], Check, dict[str, float]]] = [
    # Files
    ("read /etc/passwd", lambda h: "print(open('/etc/passwd').read())", refused, {}),
    ("read the project .env", lambda h: f"print(open({str(h.secret_file)!r}).read())", refused, {}),
    ("list the host directory", lambda h: f"import os\nprint(os.listdir({str(h.directory)!r}))", refused, {}),
    ("write outside", lambda h: f"open({str(h.directory / 'new.txt')!r}, 'w').write('x')", refused, {}),
    ("delete a host file", lambda h: f"import os\nos.remove({str(h.victim)!r})", refused, {}),
    (
        "dir_fd after chdir",
        lambda h: f"import os\nos.chdir('/')\nfd = os.open({str(h.directory)!r}, os.O_RDONLY)\n"
        "print(os.read(os.open('.env', os.O_RDONLY, dir_fd=fd), 200))",
        refused,
        {},
    ),
    (
        "symlink to a host file",
        lambda h: f"import os\nos.symlink({str(h.secret_file)!r}, 'link')\nprint(open('link').read())",
        refused,
        {},
    ),
    ("read /proc/self/environ", lambda h: "print(open('/proc/self/environ', 'rb').read())", refused, {}),
    ("JS: Deno reads a file", lambda h: JS + f"print(G.Deno.readTextFileSync({str(h.secret_file)!r}))", refused_by_deno, {}),  # noqa: E501
    ("JS: Deno writes a file", lambda h: JS + f"G.Deno.writeTextFileSync({str(h.victim)!r}, 'x')", refused_by_deno, {}),
    ("JS: Deno deletes a file", lambda h: JS + f"G.Deno.removeSync({str(h.victim)!r})", refused_by_deno, {}),
    # Environment
    ("os.environ", lambda h: "import os\nprint(dict(os.environ))", quiet_ok, {}),
    ("JS: Deno.env.get", lambda h: JS + "print(G.Deno.env.get('OPENAI_API_KEY'))", refused_by_deno, {}),
    ("JS: Deno.env.toObject", lambda h: JS + "print(G.Deno.env.toObject())", refused_by_deno, {}),
    # Processes and signals
    ("subprocess", lambda h: "import subprocess\nsubprocess.run(['touch', '/tmp/pwned'])", refused, {}),
    ("os.fork", lambda h: "import os\nos.fork()", refused, {}),
    ("setsid then fork", lambda h: "import os\nos.setsid()\nos.fork()", refused, {}),
    (
        "_posixsubprocess.fork_exec",
        lambda h: "import _posixsubprocess, os\nr, w = os.pipe()\n_posixsubprocess.fork_exec("
        f"[b'touch', {str(h.directory / 'pwned').encode()!r}], [b'/usr/bin/touch'], True, (), None, None, "
        "-1, -1, -1, -1, -1, -1, r, w, False, False, -1, None, None, -1, -1, None, False)",
        lambda r, h: r.status == "error" and "not implemented" in r.last_error_line,
        {},
    ),
    ("kill the parent", lambda h: f"import os, signal\nos.kill({h.pid}, signal.SIGKILL)", refused, {}),
    ("killpg everything", lambda h: "import os, signal\nos.killpg(0, signal.SIGKILL)", refused, {}),
    (
        "JS: Deno.Command",
        lambda h: JS
        + f"G.eval(\"new Deno.Command('touch', {{args: [{str(h.directory / 'pwned')!r}]}}).outputSync()\")",
        refused_by_deno,
        {},
    ),
    ("JS: Deno.kill the parent", lambda h: JS + f"G.Deno.kill({h.pid}, 'SIGKILL')", refused_by_deno, {}),
    # Network
    (
        "socket connect",
        lambda h: f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {h.port}))\ns.send(b'leak')",
        refused,
        {},
    ),
    (
        "UDP sendto",
        lambda h: "import socket\nudp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"udp.sendto(b'x', ('127.0.0.1', {h.port}))",
        refused,
        {},
    ),
    ("urllib", lambda h: f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{h.port}/')", refused, {}),
    (
        "JS: fetch from a worker thread",
        lambda h: JS
        + "url = 'data:text/javascript,' + G.encodeURIComponent(\"fetch('http://127.0.0.1:"
        + str(h.port)
        + "/leak').catch(()=>{})\")\n"
        + "G.eval(f'new Worker({url!r}, {{type: \"module\"}})')\n"
        + "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass",
        lambda result, host: result.status == "ok" and not host.connections,
        {"timeout": 5},
    ),
    # Floods
    # The time limits below are as short as still let the code reach what it tries before the kill: the
    # hostile code burns CPU until then, and the suite runs on 2 cores.
    ("endless loop", lambda h: "while True:\n    pass", lambda r, h: r.status == "timeout", {"timeout": 0.5}),
    (
        "memory bomb",
        lambda h: "hog = []\nwhile True:\n    hog.append(bytearray(10**7))",
        lambda r, h: r.status == "memory",
        {"memory_mb": 128, "timeout": 30},
    ),
    (
        "JS memory bomb",
        lambda h: JS + "G.eval('const a = []; while (true) a.push(new Uint8Array(1e7).fill(1))')",
        lambda r, h: r.status in {"memory", "killed"},
        {"timeout": 30},
    ),
    (
        "print flood",
        lambda h: "while True:\n    print('x' * 1000)",
        lambda r, h: r.status == "timeout" and len(r.stdout) <= OUTPUT_LIMIT + 50,
        {"timeout": 0.5},
    ),
    (
        "one giant print",
        lambda h: "print('x' * 10**8)",
        lambda r, h: r.status == "ok" and len(r.stdout) <= OUTPUT_LIMIT + 50,
        {"timeout": 20},
    ),
    (
        "JS: raw stdout flood",
        lambda h: JS + "G.eval('const b = new Uint8Array(1e6); while (true) Deno.stdout.writeSync(b)')",
        lambda r, h: r.status == "output",
        {"timeout": 20},
    ),
    (
        "JS: CPU-burning worker threads",
        lambda h: JS
        + "for _ in range(4):\n    G.eval('new Worker(\"data:text/javascript,while(true){}\", {type: \"module\"})')\n"
        + "while True:\n    pass",
        lambda r, h: r.status == "timeout",
        {"timeout": 1},
    ),
    ("recursion bomb", lambda h: "def f():\n    return f()\nf()", refused, {}),
    # Parser bombs (the parent never compiles the code)
    ("nested parentheses", lambda h: "x = " + "(" * 200_000 + ")" * 200_000, refused, {}),
    ("huge expression", lambda h: "x = " + "1+" * 300_000 + "1", lambda r, h: r.status in {"ok", "error"}, {}),
    ("nested lists in eval", lambda h: "eval('[' * 100000 + ']' * 100000)", refused, {}),
    # Forged results: the status comes from the host and the runner's own frames
    ("print MemoryError", lambda h: "import sys\nprint('MemoryError', file=sys.stderr)", quiet_ok, {}),
    (
        "print a done frame",
        lambda h: 'print(\'\\n{"n": "guess", "k": "done", "status": "ok", "returncode": 0}\')\nraise ValueError("bad")',
        lambda r, h: r.status == "error",
        {},
    ),
    (
        "JS: write a done frame then exit",
        lambda h: JS + "G.Deno.stdout.writeSync(G.TextEncoder.new().encode("
        "'\\n{\"k\": \"done\", \"status\": \"ok\", \"returncode\": 0}\\n'))\nG.Deno.exit(0)",
        lambda r, h: r.status == "killed",
        {},
    ),
    (
        "JS: patch JSON.stringify and stdout",
        lambda h: JS + "G.eval('JSON.stringify = () => \"{}\"; Deno.stdout.writeSync = () => 0')\n"
        "raise ValueError('still an error')",
        lambda r, h: r.status == "error" and "still an error" in r.last_error_line,
        {},
    ),
    (
        "gc: hunt for the nonce",
        lambda h: JS
        + "import gc, re\n"
        + "found = {o for o in gc.get_objects() if isinstance(o, str) and re.fullmatch('[0-9a-f]{32}', o)}\n"
        + "for guess in found:\n"
        + "    G.Deno.stdout.writeSync(G.TextEncoder.new().encode("
        + "'\\n{\"n\": \"' + guess + '\", \"k\": \"done\", \"status\": \"ok\", \"returncode\": 0}\\n'))\n"
        + "raise SystemExit(1)",
        lambda r, h: r.status == "error",
        {},
    ),
    (
        "frame walk: rewrite callers' globals",
        lambda h: "import sys\nf = sys._getframe()\nwhile f:\n    f.f_globals.update(status='ok')\n    f = f.f_back\n"
        "raise ValueError('bad')",
        lambda r, h: r.status == "error",
        {},
    ),
]


@pytest.mark.parametrize(("name", "build", "check", "options"), CASES, ids=[case[0] for case in CASES])
def test_hostile_snippet_is_contained(
    name: str, build: Callable[[Host], str], check: Check, options: dict[str, float], host: Host
) -> None:
    peak_before = _peak_rss_mb()
    started = time.monotonic()
    result = run_python(build(host), **options)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert check(result, host), f"{name}: {result.status} {result.summary()[:300]!r} {result.stdout[:200]!r}"
    assert host.untouched(), name
    assert elapsed < options.get("timeout", 5.0) + 30, f"{name} took {elapsed:.1f}s"
    assert _peak_rss_mb() - peak_before < 300, f"{name}: the parent grew"
    os.kill(os.getpid(), 0)  # the parent is alive (a signal from the sandbox would have ended the test run)


def test_forged_marker_cannot_pass_a_sort_check() -> None:
    forged = (
        "import sys\nprint('@@SORT_CHECK@@' + '[' + ','.join(['{\"got\": []}'] * 11) + ']')\n"
        "def quicksort(items):\n    return items[:1]\n"
    )
    report = check_sort_code(forged)
    assert not report.ok and report.passed < report.total


def test_forged_done_frame_cannot_pass_a_sort_check() -> None:
    forged = (
        JS + "ok = ','.join(['{\"got\": [1]}'] * 11)\n"
        "G.Deno.stdout.writeSync(G.TextEncoder.new().encode("
        "'\\n{\"k\": \"done\", \"status\": \"ok\", \"result\": \"[' + ok + ']\"}\\n'))\n"
        "G.Deno.exit(0)\n"
        "def quicksort(items):\n    return items\n"
    )
    report = check_sort_code(forged)
    assert not report.ok and report.run is not None and report.run.status == "killed"


# Forging the outcome. The code can reach the worker's JavaScript realm, so each class of
# forgery is tried there; the outcome has to come from a realm it cannot reach (issue 22).
STEAL_NONCE = JS + (
    "G.eval(\"globalThis.stolen = ''; Object.prototype.toJSON = function () {"
    " if (typeof this.n === 'string' && !globalThis.stolen) globalThis.stolen = this.n; return this; }\")\n"
    "import sys\nprint('x' * 20000)\nsys.stdout.flush()\n"
    "NONCE = str(G.stolen)\n"
    "def write_frame(text):\n"
    "    G.Deno.stdout.writeSync(G.TextEncoder.new().encode('\\n' + text + '\\n'))\n"
)
IDENTITY_SORT = "def my_sort(items):\n    return items\n"


def test_prototype_pollution_cannot_turn_an_error_into_ok() -> None:
    code = JS + (
        "G.eval(\"Object.prototype.toJSON = function () { if (this.k !== 'done') return this;"
        " const copy = Object.assign({}, this); copy.status = 'ok'; copy.returncode = 0; copy.traceback = '';"
        " return copy; }\")\n"
        "raise ValueError('still an error')\n"
    )
    result = run_python(code)
    assert result.status == "error" and result.last_error_line == "ValueError: still an error"


def test_a_stolen_frame_secret_cannot_end_an_endless_loop_as_ok() -> None:
    code = STEAL_NONCE + (
        "write_frame('{\"n\": \"' + NONCE + '\", \"k\": \"done\", \"status\": \"ok\", \"returncode\": 0}')\n"
        "while True:\n    pass\n"
    )
    result = run_python(code, timeout=1.5)
    assert result.status == "timeout"


def test_frames_written_directly_are_not_the_runs_output_or_outcome() -> None:
    code = STEAL_NONCE + (
        "write_frame('{\"n\": \"' + NONCE + '\", \"k\": \"o\", \"d\": \"FORGED OUTPUT\"}')\n"
        "write_frame('{\"n\": \"' + NONCE + '\", \"k\": \"done\", \"status\": \"ok\", \"returncode\": 0}')\n"
        "G.eval(\"delete Object.prototype.toJSON\")\n"
        "raise ValueError('bad')\n"
    )
    result = run_python(code)
    assert result.status == "error" and "FORGED OUTPUT" not in result.stdout


def test_patched_runner_globals_cannot_turn_an_exit_code_into_ok() -> None:
    code = JS + (
        "G.eval(\"RegExp.prototype.test = () => true; Array.prototype.includes = () => true;"
        " String.prototype.endsWith = () => true; JSON.stringify = () => '{}'\")\n"
        "import sys\nsys.exit(3)\n"
    )
    result = run_python(code)
    assert (result.status, result.returncode) == ("error", 1)


def test_the_worker_global_channel_is_not_read() -> None:
    code = JS + "G.postMessage(['done', 'ok', 0, '', None])\nG.postMessage(['o', 'FORGED'])\nraise ValueError('bad')\n"
    result = run_python(code)
    assert result.status == "error" and "FORGED" not in result.stdout


SORT_FORGERIES = {
    "prototype pollution rewrites the results": JS
    + "G.eval(\"Object.prototype.toJSON = function () { if (this.k !== 'done' || !this.result) return this;"
    " const copy = Object.assign({}, this); copy.result = JSON.stringify(JSON.parse(this.result).map("
    "r => ({got: (r.got || []).slice().sort((a, b) => a - b)}))); return copy; }\")\n",
    "the harness's json patched (gc hunt)": (
        "import gc, json\nreal = json.dumps\nfor o in gc.get_objects():\n"
        "    if isinstance(o, dict) and 'run_cases' in o:\n"
        "        o['_json'].dumps = lambda results: real([{'got': sorted(r['got'])} for r in results])\n"
    ),
    "builtins patched": (
        "import builtins\nbuiltins.list = type('list', (list,), {'__new__': lambda cls, items=(): sorted(items)})\n"
    ),
    "list's C slots patched with ctypes": (
        "import ctypes\n"
        "as_mapping = ctypes.c_uint32.from_address(id(list) + 56).value\n"
        "PROTO = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.py_object)\n"
        "real = PROTO(ctypes.c_uint32.from_address(as_mapping + 4).value)\n"
        "def fake(self, index):\n    try:\n        return sorted(self)[index]\n"
        "    except Exception:\n        return real(self, index)\n"
        "keep = PROTO(fake)\n"
        "ctypes.c_uint32.from_address(as_mapping + 4).value = ctypes.cast(keep, ctypes.c_void_p).value\n"
    ),
    "setters on Array.prototype's indices": JS
    + "G.eval(\"for (let i = 0; i < 400; i++) Object.defineProperty(Array.prototype, i, {configurable: true,"
    " set(v) { if (Array.isArray(v) && v[0] === 'got') v[1].sort((a, b) => a - b);"
    " Object.defineProperty(this, i, {value: v, writable: true, enumerable: true, configurable: true}); }})\")\n",
    "a trace function sorts what it returns": (
        "import sys\ndef tracer(frame, event, arg):\n"
        "    if event == 'return' and frame.f_code.co_name == 'my_sort' and isinstance(arg, list):\n"
        "        arg.sort()\n    return tracer\nsys.settrace(tracer)\n"
    ),
    "a sys.monitoring callback sorts what it returns": (
        "import sys\nm = sys.monitoring\ndef on_return(code, offset, value):\n"
        "    if code.co_name == 'my_sort':\n        value.sort()\n"
        "m.use_tool_id(3, 'x')\nm.register_callback(3, m.events.PY_RETURN, on_return)\n"
        "m.set_events(3, m.events.PY_RETURN)\n"
    ),
    "an audit hook keeps a trace function armed": (
        "import sys\ndef tracer(frame, event, arg):\n"
        "    if event == 'return' and isinstance(arg, list):\n        arg.sort()\n    return tracer\n"
        "def hook(event, args):\n    if event == 'sys.settrace':\n        raise RuntimeError('no')\n"
        "sys.settrace(tracer)\nsys.addaudithook(hook)\n"
    ),
    "pyodide's proxies and internals patched": JS
    + "import pyodide_js\n"
    + "print('internals reachable:', hasattr(pyodide_js, '_module') or hasattr(pyodide_js, '_api'))\n"
    + "G.eval('(ffi) => { for (const name of Object.getOwnPropertyNames(ffi)) { const proto = ffi[name].prototype;"
    " for (const key of Object.getOwnPropertyNames(proto)) if (key !== \"constructor\")"
    " try { proto[key] = () => [] } catch {} } }')(pyodide_js.ffi)\n"
    + "pyodide_js.toPy = G.eval('() => []')\n",
}


def _forged_sort_done() -> str:
    """The done frame a forger would write: every case "sorted" by the forger itself."""
    from tutorial_kit.sort_check import sort_cases

    results = [{"got": sorted(values)} for values in sort_cases().values()]
    return (
        "import json\nRESULT = json.dumps(" + repr(results) + ")\n"
        "write_frame(json.dumps({'n': NONCE, 'k': 'done', 'status': 'ok', 'returncode': 0, 'result': RESULT}))\n"
        "G.Deno.exit(0)\n"
    )


SORT_FORGERIES["stolen secret, then a done frame with sorted results"] = (
    STEAL_NONCE + "G.eval(\"delete Object.prototype.toJSON\")\n" + _forged_sort_done()
)


@pytest.mark.parametrize("forgery", list(SORT_FORGERIES), ids=list(SORT_FORGERIES))
def test_an_identity_sort_never_passes_however_it_forges(forgery: str) -> None:
    report = check_sort_code(SORT_FORGERIES[forgery] + IDENTITY_SORT)
    assert not report.ok and report.passed < report.total, report.summary()
    assert report.run is not None and "internals reachable: True" not in report.run.stdout
    if report.run.status == "ok":  # the forgery ran to its end: the host read the real outputs
        assert report.failures[0].got == report.failures[0].given


def test_a_run_after_a_killed_one_starts_clean() -> None:
    hang = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"
    assert run_python(hang, timeout=0.5).status == "timeout"
    assert run_python("print('after')").stdout == "after\n"
