"""nbval really compares replayed outputs: a changed recording fails the changed cell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tutorial_kit.machinery.recording import CASSETTE_DIR, PROJECT_ROOT

NOTEBOOK = "00_getting_started"


def change_first_response(path: Path, status: int, new_text: str) -> None:
    """Rewrite the first recorded response with this status: its message content or error detail."""
    data = yaml.safe_load(path.read_text())
    for interaction in data["interactions"]:
        response = interaction["response"]
        if response["status"]["code"] == status:
            body = json.loads(response["body"]["string"])
            if status == 200:
                body["choices"][0]["message"]["content"] = new_text
            elif isinstance(body.get("error"), dict):  # llama-server: {"error": {"message": ...}}
                body["error"]["message"] = new_text
            else:
                body["detail"] = new_text
            response["body"]["string"] = json.dumps(body)
            path.write_text(yaml.safe_dump(data))
            return
    raise AssertionError(f"no {status} response in {path}")


def run_nbval(tmp_path: Path, edit: tuple[int, str] | None) -> subprocess.CompletedProcess[str]:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(CASSETTE_DIR, cassettes)
    notebook = tmp_path / f"{NOTEBOOK}.ipynb"
    shutil.copy(PROJECT_ROOT / "notebooks" / notebook.name, notebook)
    if edit:
        change_first_response(cassettes / "local" / f"{NOTEBOOK}.yaml", *edit)
    env = dict(os.environ, TUTORIAL_CASSETTE_DIR=str(cassettes), LLM_MODE="replay", LLM_PROVIDER="")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", str(notebook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (None, "passed"),
        ((200, "a changed answer"), "a changed answer"),
        ((401, "Invalid key, changed"), "Invalid key, changed"),
    ],
    ids=["untouched", "changed-answer", "changed-error-body"],
)
def test_changed_response_fails_its_cell(tmp_path: Path, edit: tuple[int, str] | None, expected: str) -> None:
    result = run_nbval(tmp_path, edit)
    report = result.stdout + result.stderr
    if edit is None:
        assert result.returncode == 0, report[-2000:]
    else:
        assert result.returncode != 0
        assert "1 failed" in report and expected in report, report[-2000:]
