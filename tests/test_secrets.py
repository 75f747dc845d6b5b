"""No key reaches a cassette or a stored output: planted keys, real HTTP, and a repo scan."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from openai import OpenAI

from tutorial_kit.machinery.recording import CASSETTE_DIR, PROJECT_ROOT, build_vcr
from tutorial_kit.machinery.secret_scan import find_secrets, redact, scan_files

PLANTED = {
    "openai": "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
    "openai-project": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Ab3dEf6hIj9",
    "dashscope": "sk-0123456789abcdef0123456789abcdef",
    "zhipu": "0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOp",
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJhcGlfa2V5IjoiMTIzIn0.c2lnbmF0dXJlX3ZhbHVl",
}


@pytest.mark.parametrize("name", PLANTED)
def test_scanner_catches_each_key_format(name: str) -> None:
    text = f'{{"note": "key was {PLANTED[name]} here"}}'
    assert find_secrets(text), name
    cleaned = redact(text)
    assert PLANTED[name] not in cleaned and not find_secrets(cleaned)


PUBLIC = ["sk-local", "sk-replay", "sk-wrong", "sk-xxx-not-a-real-key", "task-description-is-long"]


@pytest.mark.parametrize("text", PUBLIC)
def test_scanner_ignores_public_placeholders(text: str) -> None:
    assert find_secrets(text) == []


class EchoHandler(BaseHTTPRequestHandler):
    """Answers with everything a careless server might echo: the key in headers and body."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        sent = self.rfile.read(length).decode()
        auth = self.headers.get("authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth} / {sent}"}}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("set-cookie", f"session={auth}")
        self.send_header("x-echo-key", auth)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.mark.parametrize("name", ["openai", "openai-project", "dashscope", "zhipu"])
def test_recording_scrubs_keys_sent_and_echoed(echo_server: str, tmp_path: Path, name: str) -> None:
    key = PLANTED[name]
    cassette = tmp_path / "c.yaml"
    with build_vcr(secrets=[key]).use_cassette(str(cassette), record_mode="all"):
        client = OpenAI(api_key=key, base_url=f"{echo_server}?key={key}", max_retries=0)
        with pytest.raises(Exception, match="401"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"my key {key}"}])
    text = cassette.read_text()
    assert "Incorrect API key" in text  # the interaction was recorded
    assert key not in text
    assert find_secrets(text) == []
    assert "authorization" not in text.lower() and "set-cookie" not in text.lower()


def stored_files() -> list[Path]:
    return sorted(CASSETTE_DIR.rglob("*.yaml")) + sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def test_no_secret_in_any_cassette_or_notebook() -> None:
    files = stored_files()
    assert files, "nothing to scan"
    assert scan_files(files) == []


def test_no_auth_header_recorded() -> None:
    for path in CASSETTE_DIR.rglob("*.yaml"):
        text = path.read_text().lower()
        assert "authorization" not in text and "api-key" not in text and "cookie" not in text, path


# Keys the scanner used to miss (issue 22), each with the part that must not survive redaction.
DASHSCOPE = PLANTED["dashscope"]
HIDDEN_KEYS = {
    "behind a placeholder prefix": ("sk-xxx" + DASHSCOPE[3:], DASHSCOPE[3:]),
    "a placeholder, then a key": ("sk-xxx-" + DASHSCOPE, DASHSCOPE[3:]),
    "glued to a word": ("mytoken" + DASHSCOPE, DASHSCOPE[3:]),
    "project key glued to a word": ("key" + PLANTED["openai-project"], PLANTED["openai-project"][8:]),
    "JSON \\/ and \\u inside a bearer token": ('{"h": "Bearer dGhpcyBpc\\u0033Bh\\/IHNlY3JldA=="}', "IHNlY3JldA"),
    "JSON \\u inside a key": ('{"k": "sk-012\\u00333456789abcdef0123456789abcdef"}', "456789abcdef0123"),
    "JSON \\u for its letters": ('"\\u0073\\u006b-0123456789abcdef0123456789abcdef"', DASHSCOPE[3:]),
    "\\x-escaped bytes": ("b'\\x73\\x6b\\x2d0123456789abcdef0123456789abcdef'", DASHSCOPE[3:]),
    "repr of its UTF-16 bytes": ("b'" + "".join(c + "\\x00" for c in DASHSCOPE) + "'", "a\\x00b\\x00c\\x00d"),
    "Zhipu secret of 24": ("0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQr"),
    "Zhipu secret of 12": ("0123456789abcdef0123456789abcdef.AbCdEfGh1jKl", "AbCdEfGh1jKl"),
    "Zhipu id of 24": ("a1b2c3d4e5f6a7b8c9d0e1f2.AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp"),
}


@pytest.mark.parametrize("name", HIDDEN_KEYS)
def test_scanner_catches_and_redacts_keys_hidden_by_prefix_glue_escape_or_length(name: str, tmp_path: Path) -> None:
    text, part = HIDDEN_KEYS[name]
    notebook = tmp_path / "planted.ipynb"
    output = {"output_type": "stream", "name": "stdout", "text": f"echo: {text}\n"}
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "", "outputs": [output]}]}))
    assert scan_files([notebook]), f"make test's scan missed: {name}"
    cleaned = redact(text)
    assert part not in cleaned and part not in cleaned.encode().decode("unicode_escape"), cleaned
    assert find_secrets(cleaned) == []


class StreamingEchoHandler(BaseHTTPRequestHandler):
    """Streams an answer that repeats the key it was asked about, five characters per chunk."""

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        answer = "Sure, your key is " + sent["messages"][0]["content"] + ". Keep it secret."
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for start in range(0, len(answer), 5):
            delta = {"index": 0, "delta": {"content": answer[start : start + 5]}, "finish_reason": None}
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [delta]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("known", [True, False], ids=["key known", "key by its shape"])
def test_a_key_streamed_in_pieces_is_scrubbed_from_the_whole_stream(tmp_path: Path, known: bool) -> None:
    server = HTTPServer(("127.0.0.1", 0), StreamingEchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = DASHSCOPE
    cassette = tmp_path / "c.yaml"
    try:
        with build_vcr(secrets=[key] if known else []).use_cassette(str(cassette), record_mode="all"):
            client = OpenAI(api_key="sk-local", base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
            stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": key}], stream=True)
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    finally:
        server.shutdown()
    assert key in streamed  # the server really sent it, in pieces
    from vcr.serializers.yamlserializer import deserialize

    body = deserialize(cassette.read_text())["interactions"][0]["response"]["body"]["string"]
    body = body.decode() if isinstance(body, bytes) else body
    joined = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in body.splitlines()
        if line.startswith("data: {")
    )
    assert key[3:12] not in joined and "Sure, your key is REDACTED" in joined, joined
    assert scan_files([cassette]) == []


def test_the_room_key_file_is_ignored_by_git() -> None:
    import subprocess

    ignored = subprocess.run(["git", "check-ignore", "-q", ".local-server.key"], cwd=PROJECT_ROOT, check=False)
    assert ignored.returncode == 0, ".local-server.key is not in .gitignore"


def test_the_room_bench_reads_its_key_from_the_environment_or_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_room", PROJECT_ROOT / "scripts" / "bench_room.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_room", bench)  # its dataclasses look themselves up there
    spec.loader.exec_module(bench)
    with pytest.raises(SystemExit):  # no way to put the key where ps shows it
        bench.parse_arguments(["--api-key", "sk-room-on-the-command-line"])
    monkeypatch.setattr(bench, "PROJECT_ROOT", tmp_path)  # no .env of the developer's
    monkeypatch.setattr(bench, "ROOM_KEY_FILE", tmp_path / ".local-server.key")
    assert bench.parse_arguments([]).api_key == "sk-local"
    (tmp_path / ".local-server.key").write_text("sk-room-from-the-file\n")
    assert bench.parse_arguments([]).api_key == "sk-room-from-the-file"
    monkeypatch.setenv("LOCAL_API_KEY", "sk-room-from-the-env")
    assert bench.parse_arguments([]).api_key == "sk-room-from-the-env"
