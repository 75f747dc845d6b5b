"""Learners behind a SOCKS proxy (ALL_PROXY=socks5://…): sessions start, replay and go live.

Live is checked through a tiny SOCKS5 server written here, on loopback, in front of a pretend
provider; replay needs no proxy at all (no connection may be attempted)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nbformat
import pytest
from nbclient import NotebookClient
from openai import OpenAI
from zhipuai import ZhipuAI

from tutorial_kit.errors import CassetteMissError
from tutorial_kit.machinery.recording import PROJECT_ROOT
from tutorial_kit.session import finish_recording, start_session

NOTEBOOK = "00_getting_started"
RECORDED_PROMPT = "用一句话欢迎一位新同学。"  # the request lesson 00 records
NOWHERE_PROXY = "socks5://127.0.0.1:9"


def receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class Socks5Server(socketserver.ThreadingTCPServer):
    """RFC 1928, no authentication, CONNECT only; every target is relayed to ``upstream``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), Socks5Handler)
        self.upstream = upstream
        self.targets: list[tuple[str, int]] = []


class Socks5Handler(socketserver.BaseRequestHandler):
    server: Socks5Server

    def handle(self) -> None:
        client: socket.socket = self.request
        _version, count = receive(client, 2)
        receive(client, count)
        client.sendall(b"\x05\x00")
        _version, _command, _reserved, kind = receive(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(receive(client, 4))
        elif kind == 3:
            host = receive(client, receive(client, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, receive(client, 16))
        (port,) = struct.unpack(">H", receive(client, 2))
        self.server.targets.append((host, port))
        upstream = socket.create_connection(self.server.upstream)
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        copier = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        copier.start()
        pipe(client, upstream)
        copier.join(timeout=5)


def pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    for end in (source, target):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


class ProviderHandler(BaseHTTPRequestHandler):
    """A pretend chat-completions endpoint."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        answer = {
            "id": "c1", "object": "chat.completion", "created": 0, "model": sent["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"via {self.headers['host']}"}}],
        }  # fmt: skip
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@pytest.fixture
def provider_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ProviderHandler)
    server.daemon_threads = True  # a kept-alive SDK connection must not hold up shutdown
    serve(server)
    yield server
    server.shutdown()


@pytest.fixture
def socks_proxy(provider_server: ThreadingHTTPServer) -> Iterator[Socks5Server]:
    proxy = Socks5Server(("127.0.0.1", provider_server.server_port))
    serve(proxy)
    yield proxy
    proxy.shutdown()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "")  # the session may add loopback; restored afterwards
    monkeypatch.setenv("no_proxy", "")
    yield monkeypatch
    finish_recording()


def ask(client: OpenAI | ZhipuAI, prompt: str = RECORDED_PROMPT) -> str | None:
    # as lesson 00 sends it (its recording is replayed); zhipuai's create() knows only max_tokens
    limit = {"max_tokens": 40} if isinstance(client, ZhipuAI) else {"max_completion_tokens": 40}
    response = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": prompt}], temperature=0, **limit
    )
    return response.choices[0].message.content


def test_live_request_goes_through_the_socks_proxy(
    proxy_env: pytest.MonkeyPatch, socks_proxy: Socks5Server
) -> None:
    proxy_env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{socks_proxy.server_address[1]}")
    proxy_env.setenv("DASHSCOPE_API_KEY", "sk-test-not-a-real-key-0000")
    proxy_env.setenv("DASHSCOPE_BASE_URL", "http://dashscope.proxy.test/v1")  # only the proxy can resolve it
    proxy_env.setenv("LLM_MODE", "live")
    session = start_session(NOTEBOOK, provider="dashscope")
    client = OpenAI(api_key=session.api_key, base_url=session.base_url, max_retries=0)
    assert ask(client) == "via dashscope.proxy.test"
    assert socks_proxy.targets == [("dashscope.proxy.test", 80)]


def test_zhipu_sdk_goes_through_the_socks_proxy_too(
    proxy_env: pytest.MonkeyPatch, socks_proxy: Socks5Server
) -> None:
    proxy_env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{socks_proxy.server_address[1]}")
    client = ZhipuAI(api_key="0123.abcd", base_url="http://open.proxy.test/api/paas/v4/", max_retries=0)
    assert ask(client) == "via open.proxy.test"
    assert socks_proxy.targets == [("open.proxy.test", 80)]


def test_local_server_is_reached_directly_not_through_the_proxy(
    proxy_env: pytest.MonkeyPatch, socks_proxy: Socks5Server, provider_server: ThreadingHTTPServer
) -> None:
    proxy_env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{socks_proxy.server_address[1]}")
    proxy_env.setenv("LOCAL_BASE_URL", f"http://127.0.0.1:{provider_server.server_port}/v1")
    proxy_env.setenv("LLM_MODE", "live")
    session = start_session(NOTEBOOK, provider="local")
    client = OpenAI(api_key=session.api_key, base_url=session.base_url, max_retries=0)
    assert ask(client) == f"via 127.0.0.1:{provider_server.server_port}"
    assert socks_proxy.targets == []
    assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")


@pytest.mark.parametrize("variable", ["ALL_PROXY", "all_proxy", "HTTPS_PROXY"])
def test_replay_with_a_socks_proxy_set_needs_no_proxy(
    proxy_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    proxy_env.setenv(variable, NOWHERE_PROXY)
    proxy_env.setenv("LLM_MODE", "replay")
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError("replay must not connect")

    session = start_session(NOTEBOOK, provider="local")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert ask(OpenAI(api_key=session.api_key, base_url=session.base_url))
    with pytest.raises(CassetteMissError):  # zhipuai's own request is not in this cassette: it reached the cassette
        ask(ZhipuAI(api_key="0123.abcd", base_url=session.base_url, max_retries=0))
    assert attempts == []


def errors_of(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    return [
        (index, output.ename)
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def test_a_whole_notebook_replays_with_a_socks_proxy_set(proxy_env: pytest.MonkeyPatch) -> None:
    """The reported failure: every notebook died at its first cell with a 153-line ImportError.
    Run lesson 00 in a kernel with ALL_PROXY set: it raises exactly the errors its stored outputs
    show (its deliberate error demos), nothing else."""
    path = PROJECT_ROOT / "notebooks" / f"{NOTEBOOK}.ipynb"
    stored = nbformat.read(path, as_version=4)
    notebook = nbformat.read(path, as_version=4)
    for name, value in {"ALL_PROXY": NOWHERE_PROXY, "LLM_MODE": "replay", "LLM_PROVIDER": ""}.items():
        proxy_env.setenv(name, value)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    client.execute()
    assert errors_of(notebook) == errors_of(stored)
    assert "socksio" not in json.dumps([cell.get("outputs", []) for cell in notebook.cells])
