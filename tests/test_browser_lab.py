"""JupyterLab as a learner meets it: the server ``make lab`` starts, driven in the system Chromium.

One real ``jupyter lab`` (the same launcher as ``make lab``) runs in replay mode on a free
loopback port; every lesson is opened, checked, and run in full in it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    BROKEN_IMAGES_SCRIPT,
    LESSONS,
    PROJECT_ROOT,
    chromium,
    expected_images,
    screenshot,
    stored_stderr_outputs,
)

START_TIMEOUT = 120
RUN_ALL_TIMEOUT = 300


@dataclass
class Lab:
    base_url: str
    token: str
    env: dict[str, str]
    port: int

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(lab: Lab, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            lab.api("api/status")
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    user_settings = home / "user-settings"
    # The test never saves; with autosave off a run-all can never write Lab's outputs into the lessons.
    docmanager = user_settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    docmanager.parent.mkdir(parents=True)
    docmanager.write_text(json.dumps({"autosave": False}), encoding="utf-8")
    port = _free_port()
    token = os.urandom(16).hex()
    env = {
        **os.environ,
        "LLM_MODE": "replay",
        "LLM_PROVIDER": "",
        "LLM_MODEL": "",
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
    }
    lab = Lab(f"http://127.0.0.1:{port}/", token, env, port)
    log = home / "lab.log"
    command = [
        sys.executable, "-m", "tutorial_kit.machinery.lab", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--LabApp.user_settings_dir={user_settings}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(lab, process, log)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def test_a_second_make_lab_prints_the_running_servers_address(lab: Lab) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.lab"],
        cwd=PROJECT_ROOT,
        env=lab.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert "已经在运行" in second.stdout
    assert f"http://127.0.0.1:{lab.port}/lab/tree/notebooks?token={lab.token}" in second.stdout


def test_the_server_serves_the_project_root_with_dotfiles_but_not_tool_folders(lab: Lab) -> None:
    names = {item["name"] for item in lab.api("api/contents/")["content"]}
    assert {"notebooks", "images", "README.md", ".env.example"} <= names
    if (PROJECT_ROOT / ".env").exists():
        assert ".env" in names
    assert not names & {".git", ".venv", ".cache", "__pycache__"}


def _kernel_idle(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /\\|\\s*Idle/.test(e.textContent))",
        timeout=START_TIMEOUT * 1000,
    )


def _popups(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-Dialog, .Toastify__toast",
        "els => els.filter(e => e.getClientRects().length > 0).map(e => e.innerText.slice(0, 120))",
    )


def _listing(page: Any) -> list[str]:
    page.wait_for_selector(".jp-DirListing-item", timeout=START_TIMEOUT * 1000)
    return page.eval_on_selector_all(".jp-DirListing-itemText", "els => els.map(e => e.textContent.trim())")


def test_lab_opens_on_the_lessons_and_shows_no_pop_up(lab: Lab, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(lab.url(""))  # what the printed address opens
        listing = _listing(page)
        page.wait_for_timeout(2000)  # the news question, when enabled, arrives a moment after start-up
        screenshot(page, "lab-start")
        assert "/lab/tree/notebooks" in page.url
        assert [lesson.name for lesson in LESSONS] == [name for name in listing if name in {p.name for p in LESSONS}]
        assert _popups(page) == []
        page.click(".jp-BreadCrumbs-home")  # what a learner clicks to reach .env and the README
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-DirListing-itemText')]"
            ".some(e => e.textContent.trim() === 'README.md')",
            timeout=30_000,
        )
        listing = _listing(page)
        screenshot(page, "lab-project-root")
        assert {"README.md", ".env.example", "notebooks", "images"} <= set(listing), listing
        assert ".git" not in listing and ".venv" not in listing
    finally:
        page.close()


def _tab_is_dirty(page: Any, name: str) -> bool:
    return page.eval_on_selector_all(
        "li.lm-TabBar-tab",
        "(tabs, name) => tabs.some(t => t.textContent.includes(name) && t.classList.contains('jp-mod-dirty'))",
        name,
    )


def _run_all(page: Any) -> None:
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click("li[data-command='runmenu:run-all']")


# A folded cell (a reference answer) hides its prompt: it counts as run when its output is there.
PROMPTS_SCRIPT = """
cells => cells.map(cell => {
  if (cell.querySelector('.jp-InputPlaceholder')) {
    return cell.querySelector('.jp-OutputArea-output') ? '[folded, ran]' : '[folded]';
  }
  return (cell.querySelector('.jp-InputPrompt')?.textContent || '').trim();
})
"""


def _prompts(page: Any) -> list[str]:
    return page.eval_on_selector_all(".jp-CodeCell", PROMPTS_SCRIPT)


def _wait_for_run_all(page: Any, lesson: str) -> list[str]:
    """Until no cell is queued or running and the kernel stayed idle for a moment."""
    deadline = time.monotonic() + RUN_ALL_TIMEOUT
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].some(e => e.textContent.includes('*'))"
        " || document.querySelectorAll('.jp-CodeCell .jp-InputPrompt').length === 0",
        timeout=30_000,
    )
    quiet = 0
    while time.monotonic() < deadline:
        prompts = _prompts(page)
        busy = any("*" in prompt for prompt in prompts)
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return prompts
        time.sleep(1)
    pytest.fail(f"{lesson}: run-all did not finish within {RUN_ALL_TIMEOUT} s")


def _shut_down_kernels(lab: Lab) -> None:
    for session in lab.api("api/sessions"):
        lab.api(f"api/sessions/{session['id']}", method="DELETE")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_lesson_opens_unmodified_and_runs_in_jupyterlab(lab: Lab, browser: Any, lesson: Path) -> None:
    before = lesson.read_bytes()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(lab.url(f"lab/workspaces/{lesson.stem}/tree/notebooks/{lesson.name}"))
        _kernel_idle(page)
        page.wait_for_timeout(1500)  # Lab writes the kernel's metadata into the model once it connects
        screenshot(page, f"lab-{lesson.stem}-opened")
        assert not _tab_is_dirty(page, lesson.name), f"{lesson.name} 一打开就被标记为已修改（元数据与 Lab 写入的不同）"
        assert _popups(page) == []

        _run_all(page)
        prompts = _wait_for_run_all(page, lesson.stem)
        screenshot(page, f"lab-{lesson.stem}-ran")
        not_run = [i for i, prompt in enumerate(prompts) if prompt != "[folded, ran]" and not re.search(r"\d", prompt)]
        assert not not_run, f"{lesson.name}: cells {not_run} did not run (run-all stops at an error)"
        errors = page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            "els => els.map(e => e.textContent.slice(0, 300))",
        )
        assert len(errors) <= stored_stderr_outputs(lesson), f"{lesson.name}: error output in Lab: {errors}"
        images = page.evaluate(BROKEN_IMAGES_SCRIPT, ".jp-NotebookPanel")
        assert images["broken"] == [], f"{lesson.name}: images that did not load: {images['broken']}"
        assert images["count"] >= expected_images(lesson)
        assert _popups(page) == []
    finally:
        page.close()
        _shut_down_kernels(lab)
    assert lesson.read_bytes() == before, f"{lesson.name} was written while the test ran it"
