"""The forge's workflows: CI runs .ci/run, the site workflow builds make site and publishes it on Pages.

Every workflow is checked against GitHub's workflow schema (vendored in check-jsonschema, so offline),
and by actionlint (installed with the test dependencies, pinned in requirements-test.txt).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))


def _schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema without jsonschema's IRI grammar (tutorial_kit/machinery/start_up.py): GitHub's workflow
    schema has no string format at all, and the grammar cost the check 1.0 of its 1.3 s of CPU."""
    command = [sys.executable, "-m", "tutorial_kit.machinery.start_up", "check_jsonschema",
               "--builtin-schema", "vendor.github-workflows", *map(str, paths)]  # fmt: skip
    return subprocess.run(
        command,
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


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "actionlint"
    if not binary.is_file():
        binary = Path(sys.executable).parent / "actionlint.exe"
    assert binary.is_file(), "actionlint 不在 .venv 里：make test 会按 requirements-test.txt 安装它"
    return subprocess.run(
        [str(binary), "-no-color", *map(str, paths)], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )


def test_actionlint_finds_nothing() -> None:
    linted = _actionlint(*WORKFLOWS)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_actionlint_rejects_what_the_schema_lets_through(tmp_path: Path) -> None:
    """A workflow that matches the schema but reads a context that does not exist and pins no runner label
    actionlint knows: the schema check passes it, actionlint does not."""
    sneaky = tmp_path / "sneaky.yml"
    sneaky.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-lastest\n    steps:\n"
        "      - run: echo ${{ github.shaa }}\n",
        encoding="utf-8",
    )
    assert _schema_check(sneaky).returncode == 0
    linted = _actionlint(sneaky)
    assert linted.returncode != 0
    assert "shaa" in linted.stdout and "ubuntu-lastest" in linted.stdout, linted.stdout
