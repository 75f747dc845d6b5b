"""Cassettes that make record did not write (issue 22): each case is one line naming the file and
the fix, at session start, and the secret scan that make test runs returns at once. Nothing hangs,
crashes the process, or reads a huge file before saying no."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_replay_corruption import cassettes, copy_of_cassettes, edited, first, outcome, start  # noqa: F401

from tutorial_kit.machinery import untrusted_yaml
from tutorial_kit.machinery.secret_scan import scan_files

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK, PROVIDER = "01_models", "local"
RELATIVE = f"{PROVIDER}/{NOTEBOOK}.yaml"
NAMED = [f"cassettes/{RELATIVE}", f"make record NB={NOTEBOOK} PROVIDER={PROVIDER}"]


def alias_bomb(data: bytes) -> bytes:
    """Forty levels of doubling in the metadata: 2**40 leaves for anything that walks it."""
    levels = "".join(f"  l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 41))
    return data.replace(b"\nversion: 1", b"\nmetadata:\n  l0: &l0 [x, x]\n" + levels.encode() + b"version: 1")


def answer(body: str, content_type: str) -> Callable[[dict[str, Any]], None]:
    def change(parsed: dict[str, Any]) -> None:
        response = first(parsed)["response"]
        response["status"] = {"code": 200, "message": "OK"}
        response["headers"] = {"content-type": [content_type]}
        response["body"] = {"string": body}

    return change


GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
CASES: dict[str, Callable[[bytes], bytes]] = {
    "alias bomb in the metadata": alias_bomb,
    "200 with invalid JSON": edited(answer('{"object": "list", "data": [', "application/json")),
    "200 with an HTML gateway page": edited(answer(GATEWAY_PAGE, "text/html")),
    "200 with HTML said to be JSON": edited(answer(GATEWAY_PAGE, "application/json")),
    "nested-list header value": edited(lambda p: first(p)["response"]["headers"].update({"x-request-id": [["a"]]})),
    "request body stored as a YAML map": edited(lambda p: first(p)["request"].update(body={"model": "m"})),
    "event stream with a broken data line": edited(answer("data: {oops\n\ndata: [DONE]\n\n", "text/event-stream")),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", CASES)
def test_each_listed_case_is_one_line_at_session_start(cassettes: Path, name: str) -> None:  # noqa: F811
    path = cassettes / RELATIVE
    original = path.read_bytes()
    path.write_bytes(CASES[name](original))
    try:
        started = time.monotonic()
        clear, message = outcome(start(NOTEBOOK, PROVIDER))
        assert clear and all(part in message for part in NAMED), message
        assert time.monotonic() - started < 10
    finally:
        path.write_bytes(original)


@pytest.mark.timeout(30)  # the walk of 2**40 leaves would never end
def test_the_secret_scan_refuses_an_alias_bomb_at_once(tmp_path: Path) -> None:
    bombed = tmp_path / "bomb.yaml"
    bombed.write_bytes(alias_bomb((PROJECT_ROOT / "cassettes" / RELATIVE).read_bytes()))
    findings = scan_files([bombed])
    assert [finding.kind for finding in findings] == ["unreadable-cassette"] and "别名" in findings[0].excerpt


def test_a_300_mb_cassette_is_refused_before_it_is_read(cassettes: Path) -> None:  # noqa: F811
    path = cassettes / RELATIVE
    original = path.read_bytes()
    with path.open("ab") as file:
        file.truncate(300 * 1024 * 1024)  # sparse: 300 MB on paper, nothing written
    tracemalloc.start()
    try:
        started = time.monotonic()
        clear, message = outcome(start(NOTEBOOK, PROVIDER))
        elapsed = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
        findings = scan_files([path])
    finally:
        tracemalloc.stop()
        path.write_bytes(original)
    assert clear and all(part in message for part in NAMED) and "300 MB" in message, message
    assert elapsed < 5 and peak < 50 * 1024 * 1024, (elapsed, peak)
    assert [finding.kind for finding in findings] == ["unreadable-cassette"]


DEEP = b"interactions: " + b"[" * 30_000 + b"]" * 30_000 + b"\nversion: 1\n"
IN_A_CHILD = """
import sys
from tutorial_kit.errors import KitError
from tutorial_kit.session import start_session
from tutorial_kit.machinery.secret_scan import scan_files
from tutorial_kit.machinery.recording import cassette_path
try:
    start_session(sys.argv[1], provider=sys.argv[2])
    print("opened")
except KitError as error:
    print("ONE LINE:", str(error))
print("SCAN:", [finding.kind for finding in scan_files([cassette_path(sys.argv[2], sys.argv[1])])])
"""


@pytest.mark.timeout(120)
def test_thirty_thousand_nested_brackets_are_one_line_not_a_crash(tmp_path: Path) -> None:
    """In a child process: before the limits, libyaml's composer recursed until it segfaulted."""
    copy = tmp_path / "cassettes"
    shutil.copytree(PROJECT_ROOT / "cassettes", copy)
    (copy / RELATIVE).write_bytes(DEEP)
    env = {**os.environ, "TUTORIAL_CASSETTE_DIR": str(copy), "LLM_MODE": "replay", "LLM_PROVIDER": ""}
    child = subprocess.run(
        [sys.executable, "-c", IN_A_CHILD, NOTEBOOK, PROVIDER],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert child.returncode == 0, f"the process died ({child.returncode}): {child.stderr[-300:]}"
    lines = child.stdout.splitlines()
    assert lines[0].startswith("ONE LINE:") and all(part in lines[0] for part in NAMED), child.stdout
    assert "嵌套超过" in lines[0] and lines[1] == "SCAN: ['unreadable-cassette']", child.stdout


def test_the_limits_leave_every_committed_file_readable() -> None:
    for path in sorted((PROJECT_ROOT / "cassettes").rglob("*.yaml")):
        text = untrusted_yaml.read_bounded(path, untrusted_yaml.CASSETTE_MAX_BYTES)
        untrusted_yaml.check_structure(text)
        assert yaml.safe_load(text) is not None, path


def test_the_secret_scan_reads_a_body_nested_deeper_than_python_parses(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    data = yaml.safe_load((PROJECT_ROOT / "cassettes" / RELATIVE).read_text(encoding="utf-8"))
    data["interactions"][0]["response"]["body"]["string"] = f"data: {deep}\n\ndata: {deep}\n\n"
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert scan_files([path]) == []


MANIFEST_NAMED = ["cassettes/manifest.yaml", "make record NB=01_models PROVIDER=local"]
MANIFEST_CASES: dict[str, Callable[[bytes], bytes]] = {
    "alias bomb": lambda data: data + b"l0: &l0 [x, x]\n" + "".join(
        f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 41)
    ).encode(),
    "30,000 nested brackets": lambda data: data + b"deep: " + b"[" * 30_000 + b"]" * 30_000 + b"\n",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", MANIFEST_CASES)
def test_a_manifest_with_an_alias_or_too_deep_is_one_line(cassettes: Path, name: str) -> None:  # noqa: F811
    path = cassettes / "manifest.yaml"
    original = path.read_bytes()
    path.write_bytes(MANIFEST_CASES[name](original))
    try:
        clear, message = outcome(start(NOTEBOOK, PROVIDER))
    finally:
        path.write_bytes(original)
    assert clear and all(part in message for part in MANIFEST_NAMED), message
    assert ("别名" if "alias" in name else "嵌套超过") in message


def test_a_huge_manifest_is_refused_before_it_is_read(cassettes: Path) -> None:  # noqa: F811
    path = cassettes / "manifest.yaml"
    original = path.read_bytes()
    with path.open("ab") as file:
        file.truncate(300 * 1024 * 1024)
    try:
        started = time.monotonic()
        clear, message = outcome(start(NOTEBOOK, PROVIDER))
    finally:
        path.write_bytes(original)
    assert clear and all(part in message for part in MANIFEST_NAMED) and "300 MB" in message, message
    assert time.monotonic() - started < 5
