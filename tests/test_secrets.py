"""No key reaches a cassette or a stored output: planted keys, real HTTP, and a repo scan."""

from __future__ import annotations

import json
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
