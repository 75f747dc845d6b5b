"""nbval really compares replayed outputs: a changed recording fails the changed cell."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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


def run_nbval(tmp_path: Path, edits: list[tuple[int, str]]) -> subprocess.CompletedProcess[str]:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(CASSETTE_DIR, cassettes)
    notebook = tmp_path / f"{NOTEBOOK}.ipynb"
    shutil.copy(PROJECT_ROOT / "notebooks" / notebook.name, notebook)
    for status, text in edits:
        change_first_response(cassettes / "local" / f"{NOTEBOOK}.yaml", status, text)
    env = dict(os.environ, TUTORIAL_CASSETTE_DIR=str(cassettes), LLM_MODE="replay", LLM_PROVIDER="")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", str(notebook)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def failed_cells(report: str) -> dict[str, str]:
    """nbval's failure sections: cell id (``Cell 5``) -> that section's text. The short summary at the end
    repeats every failure's text, so it is cut off first (else it would count as the last cell's)."""
    report = re.split(r"^=+ short test summary info =+$", report, flags=re.MULTILINE)[0]
    parts = re.split(r"^_{3,} \S+::(Cell \d+) _{3,}$", report, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_each_changed_response_fails_its_own_cell_and_no_other(tmp_path: Path) -> None:
    """One nbval run of lesson 00 whose cassette copy has an answer and an error body changed: exactly two
    cells fail, each showing one of the changed texts. Every other cell passes, which is the control the
    untouched run used to give: the copied lesson and cassettes replay as the committed ones do."""
    changes = [(200, "a changed answer"), (401, "Invalid key, changed")]
    result = run_nbval(tmp_path, changes)
    report = result.stdout + result.stderr
    assert result.returncode != 0
    failed = failed_cells(report)
    assert len(failed) == 2 and re.search(r"\b2 failed\b", report), report[-3000:]
    for _status, text in changes:
        showing = [cell for cell, section in failed.items() if text in section]
        assert len(showing) == 1, f"{text!r} shown by {showing}:\n{report[-3000:]}"
    assert re.search(r"\b[1-9]\d* passed\b", report), report[-2000:]
