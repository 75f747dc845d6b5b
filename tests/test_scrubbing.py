"""Every key format, planted in every place a recording or a stored output can hold it,
is removed by the scrubbers and caught by the scanner when left in.

The summary test prints ``caught/planted`` for the closing note."""

from __future__ import annotations

import base64
import contextlib
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import nbformat
import pytest
import vcr
import yaml

from tutorial_kit.machinery.recording import build_vcr
from tutorial_kit.machinery.secret_scan import scan_cassette, scan_notebook, scrub_notebook_outputs


@dataclass(frozen=True)
class Planted:
    value: str
    """What a request or output carries."""
    core: str
    """What must not survive in any decoded form (for Basic auth: the password)."""
    known: bool = False
    """True for a key the learner set (found by value); False: found by its pattern alone."""


FORMATS: dict[str, Planted] = {
    "openai": Planted(*["sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"] * 2),
    "openai-project": Planted(*["sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Ab3dEf6hIj9"] * 2),
    "dashscope": Planted(*["sk-0123456789abcdef0123456789abcdef"] * 2),
    "zhipu": Planted(*["0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOp"] * 2),
    "google": Planted(*["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"] * 2),
    "github-classic": Planted(*["ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"] * 2),
    "github-fine-grained": Planted(*["github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123"] * 2),
    "huggingface": Planted(*["hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"] * 2),
    "aws": Planted(*["AKIAIOSFODNN7EXAMPLF"] * 2),
    "basic-auth": Planted("Basic YWxpY2U6czNjcjN0Pz4/cGFzc35+", "YWxpY2U6czNjcjN0Pz4/cGFzc35+"),
    "bearer-lowercase": Planted("bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    "jwt": Planted(*["eyJhbGciOiJIUzI1NiJ9.eyJhcGlfa2V5IjoiMTIzIn0.c2lnbmF0dXJlX3ZhbHVl"] * 2),
    "set-key-with-escapes": Planted("Zz9+Yy8/Xx7=Ww6+Vv5/Uu4=", "Zz9+Yy8/Xx7=Ww6+Vv5/Uu4=", known=True),
}


# --- an independent reader: every form a value could be read back in -------------------


def readings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from readings(key)
            yield from readings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from readings(item)
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
        yield data.decode("latin-1")
        yield data.decode("utf-16-le", errors="ignore")
        yield data.decode("utf-16-be", errors="ignore")
    elif isinstance(value, str):
        yield from (value, unquote_plus(value), value.replace("\\/", "/"))
        with contextlib.suppress(ValueError):
            yield from readings(base64.b64decode(value.strip(), validate=True))
        with contextlib.suppress(ValueError):
            yield from readings(json.loads(value))


def survives(planted: Planted, value: Any) -> bool:
    return any(planted.core in text for text in readings(value))


def load_cassette(path: Path) -> Any:
    from vcr.serializers.yamlserializer import deserialize

    return deserialize(path.read_text(encoding="utf-8"))


# --- HTTP places ------------------------------------------------------------------------


class Server(HTTPServer):
    planted = ""


class PlantingHandler(BaseHTTPRequestHandler):
    """Answers neutrally, or with the planted value in the place the path names."""

    server: Server

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        planted = self.server.planted
        content_type, headers = "application/json", {}
        body = b'{"ok": true}'
        if self.path.startswith("/response-json"):
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {planted}"}}).encode()
        elif self.path.startswith("/response-stream"):
            content_type = "text/event-stream"
            chunk = json.dumps({"choices": [{"delta": {"content": f"key {planted}"}}]})
            body = f"data: {chunk}\n\ndata: [DONE]\n\n".encode()
        elif self.path.startswith("/response-binary"):
            content_type = "application/octet-stream"
            body = b"\xff\xfe\x00\x81" + planted.encode() + b"\x80\x9f"
        elif self.path.startswith("/response-header"):
            headers["x-request-id"] = planted
        self.send_response(200)
        self.send_header("content-type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = Server(("127.0.0.1", 0), PlantingHandler)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()


Send = Callable[[httpx.Client, str, str], object]

HTTP_PLACES: dict[str, Send] = {
    "request-url": lambda c, base, v: c.get(f"{base}/plain", params={"key": v}),
    "request-header": lambda c, base, v: c.post(f"{base}/plain", headers={"authorization": v, "x-api-key": v}),
    "request-kept-header": lambda c, base, v: c.post(f"{base}/plain", headers={"accept": f"application/json; k={v}"}),
    "request-body-json": lambda c, base, v: c.post(f"{base}/plain", json={"messages": [{"content": f"my key {v}"}]}),
    "request-body-urlencoded": lambda c, base, v: c.post(f"{base}/plain", data={"note": f"key {v}"}),
    "request-body-non-utf8": lambda c, base, v: c.post(
        f"{base}/plain", content=b"\xff\xfe\x00\x81 " + v.encode() + b" \x80\x9f"
    ),
    "request-body-utf16": lambda c, base, v: c.post(
        f"{base}/plain",
        content=f"key {v}".encode("utf-16"),
        headers={"content-type": "text/plain; charset=utf-16"},
    ),
    "response-body-json": lambda c, base, v: c.post(f"{base}/response-json"),
    "response-body-stream": lambda c, base, v: c.post(f"{base}/response-stream"),
    "response-body-non-utf8": lambda c, base, v: c.post(f"{base}/response-binary"),
    "response-kept-header": lambda c, base, v: c.post(f"{base}/response-header"),
}


# Loading the CA bundle takes ~45 ms per client and 286 clients are made: load it once (the plants go over
# plain HTTP on loopback anyway).
TLS_CONTEXT = httpx.create_ssl_context()


def record(server: Server, tmp_path: Path, planted: Planted, send: Send, recorder: vcr.VCR) -> Path:
    server.planted = planted.value
    cassette = tmp_path / "cassette.yaml"
    cassette.unlink(missing_ok=True)  # record_mode="all" would append to an earlier plant
    base = f"http://127.0.0.1:{server.server_port}"
    with recorder.use_cassette(str(cassette), record_mode="all"), httpx.Client(verify=TLS_CONTEXT) as client:
        send(client, base, planted.value)
    return cassette


def known_of(planted: Planted) -> list[str]:
    return [planted.value] if planted.known else []


def test_gate_refuses_a_cassette_it_cannot_parse(tmp_path: Path) -> None:
    cassette = tmp_path / "broken.yaml"
    cassette.write_bytes(b"interactions:\n- request: {body: !!binary '\xff\xfe'\n")
    assert [finding.kind for finding in scan_cassette(cassette)] == ["unreadable-cassette"]


# --- notebook output places -------------------------------------------------------------


def png_with_text(text: str) -> bytes:
    """A valid 1x1 PNG whose tEXt chunk carries ``text`` (as a screenshot's metadata could)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\x00" + text.encode())
        + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )  # fmt: skip


OUTPUT_PLACES: dict[str, Callable[[str], dict[str, Any]]] = {
    "stream-stdout": lambda v: nbformat.v4.new_output("stream", name="stdout", text=f"key: {v}\n"),
    "stream-stderr": lambda v: nbformat.v4.new_output("stream", name="stderr", text=f"warning {v}\n"),
    "execute-result-text": lambda v: nbformat.v4.new_output(
        "execute_result", data={"text/plain": f"'{v}'"}, execution_count=1
    ),
    "display-html": lambda v: nbformat.v4.new_output("display_data", data={"text/html": f"<b>{v}</b>"}),
    "display-markdown": lambda v: nbformat.v4.new_output("display_data", data={"text/markdown": f"`{v}`"}),
    "display-json": lambda v: nbformat.v4.new_output(
        "display_data", data={"application/json": {"headers": {"authorization": v}}}
    ),
    "display-png": lambda v: nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png_with_text(v)).decode()}
    ),
    "display-svg": lambda v: nbformat.v4.new_output("display_data", data={"image/svg+xml": f"<svg><!--{v}--></svg>"}),
    "output-metadata": lambda v: nbformat.v4.new_output(
        "display_data", data={"text/plain": "ok"}, metadata={"note": v}
    ),
    "error-evalue": lambda v: nbformat.v4.new_output(
        "error", ename="AuthenticationError", evalue=f"Incorrect API key provided: {v}", traceback=[]
    ),
    "error-traceback": lambda v: nbformat.v4.new_output(
        "error",
        ename="ValueError",
        evalue="bad",
        traceback=["\x1b[0;31mValueError\x1b[0m Traceback", f"\x1b[0;32mclient\x1b[0m(api_key=\x1b[1m{v}\x1b[0m)"],
    ),
    "error-ename": lambda v: nbformat.v4.new_output("error", ename=v, evalue="", traceback=[]),
}


def notebook_with(output: dict[str, Any]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("print(key)", outputs=[output]))
    return notebook


def test_an_image_without_a_key_is_stored_byte_identical() -> None:
    image = base64.b64encode(png_with_text("a harmless comment")).decode()
    notebook = notebook_with(nbformat.v4.new_output("display_data", data={"image/png": image}))
    scrub_notebook_outputs(notebook, ["Zz9+Yy8/Xx7=Ww6+Vv5/Uu4="])
    assert notebook.cells[0].outputs[0].data["image/png"] == image


def test_public_placeholders_are_left_alone() -> None:
    text = "api_key='sk-local' / Bearer sk-replay / sk-xxx-not-a-real-key / basic usage / hf_hub_download"
    notebook = notebook_with(nbformat.v4.new_output("stream", name="stdout", text=text))
    scrub_notebook_outputs(notebook, [])
    assert notebook.cells[0].outputs[0].text == text


def http_plant(server: Server, tmp_path: Path, planted: Planted, send: Send) -> list[str]:
    """What went wrong with one plant in one HTTP place: [] when scrubbed and caught."""
    problems = []
    clean = record(server, tmp_path / "clean", planted, send, build_vcr(known_of(planted)))
    data = load_cassette(clean)
    if not data["interactions"] or survives(planted, data):
        problems.append("survived the scrubber")
    if scan_cassette(clean, known_of(planted)):
        problems.append("gate flags the scrubbed cassette")
    raw = record(server, tmp_path / "raw", planted, send, vcr.VCR(serializer="yaml", decode_compressed_response=True))
    if not survives(planted, load_cassette(raw)):
        problems.append("plant never reached the unscrubbed cassette")
    elif not scan_cassette(raw, known_of(planted)):
        problems.append("gate missed it")
    return problems


def output_plant(tmp_path: Path, planted: Planted, make_output: Callable[[str], dict[str, Any]]) -> list[str]:
    """What went wrong with one plant in one notebook output: [] when scrubbed and caught."""
    problems = []
    notebook = notebook_with(make_output(planted.value))
    path = tmp_path / "output.ipynb"
    nbformat.write(notebook, path)
    if not scan_notebook(path, known_of(planted)):
        problems.append("scanner missed it")
    scrub_notebook_outputs(notebook, known_of(planted))
    nbformat.validate(notebook)
    if survives(planted, json.loads(nbformat.writes(notebook))):
        problems.append("survived the scrubber")
    nbformat.write(notebook, path)
    if scan_notebook(path, known_of(planted)):
        problems.append("scanner flags the scrubbed notebook")
    return problems


def test_every_format_in_every_place_is_scrubbed_and_caught(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each plant counts as caught only if the scrubber removed it (no decoded form survives)
    AND the scanner finds it where it was left in. Prints the count for the closing note."""
    planted_count = 0
    failures: list[str] = []
    for name, planted in FORMATS.items():
        for place, send in HTTP_PLACES.items():
            planted_count += 1
            failures += [f"{name} in {place}: {problem}" for problem in http_plant(server, tmp_path, planted, send)]
        for place, make_output in OUTPUT_PLACES.items():
            planted_count += 1
            failures += [f"{name} in {place}: {problem}" for problem in output_plant(tmp_path, planted, make_output)]
    failed_plants = len({failure.split(":")[0] for failure in failures})
    with capsys.disabled():
        print(f"\nplanted secrets scrubbed and caught: {planted_count - failed_plants}/{planted_count}")
    assert not failures, "\n".join(failures)


def test_yaml_of_a_scrubbed_cassette_still_replays(server: Server, tmp_path: Path) -> None:
    planted = FORMATS["openai"]
    cassette = record(server, tmp_path, planted, HTTP_PLACES["response-body-json"], build_vcr())
    assert yaml.safe_load(cassette.read_text())["interactions"]
    base = f"http://127.0.0.1:{server.server_port}"
    with build_vcr().use_cassette(str(cassette), record_mode="none"), httpx.Client() as client:
        answer = client.post(f"{base}/response-json").json()
    assert "REDACTED" in answer["error"]["message"]
