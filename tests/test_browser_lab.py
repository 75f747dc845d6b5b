"""JupyterLab as a learner meets it: the server ``make lab`` starts, driven in the system Chromium.

The project is copied as a fresh clone of this working tree would hold it (files git tracks or
would track), and ``make lab``'s launcher runs there in replay mode on a free loopback port.
Every lesson is opened, run in full and saved in it; afterwards every file must be byte for byte
what it was: a learner who runs a lesson and saves it has nothing to commit and nothing to merge.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
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
    assert_real_glyph,
    expected_images,
    screenshot,
    stored_stderr_outputs,
)

from tutorial_kit.marks import FAIL, PASS

START_TIMEOUT = 120
RUN_ALL_TIMEOUT = 300
SERVER_LOG_LINE = re.compile(r"^\[[A-Z] \d{4}-|ServerApp|LabApp|jupyter_server", re.MULTILINE)


@dataclass
class Lab:
    base_url: str
    token: str
    env: dict[str, str]
    port: int
    project: Path
    home: Path
    files: dict[str, str]
    """Every file of the copy and its SHA-256 before anything ran."""

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
            pytest.fail(f"make lab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            lab.api("api/status")
            if (lab.home / "make-lab.out").read_text(encoding="utf-8").strip():
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"make lab did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _fresh_copy(target: Path) -> dict[str, str]:
    """Copy what a clone of this working tree would hold; return each file's SHA-256. The sandbox's
    Pyodide (an ignored cache that make builds) is linked in, and .env made as make lab makes it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("浏览器测试跳过：不是 git 仓库，无法得到全新克隆会有的文件")
    files: dict[str, str] = {}
    for name in filter(None, listed.stdout.decode("utf-8").split("\0")):
        source = PROJECT_ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree, not yet in a commit
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        files[name] = hashlib.sha256(source.read_bytes()).hexdigest()
    pyodide = PROJECT_ROOT / ".cache" / "pyodide"
    if pyodide.is_dir():
        (target / ".cache").mkdir(exist_ok=True)
        (target / ".cache" / "pyodide").symlink_to(pyodide, target_is_directory=True)
    shutil.copyfile(target / ".env.example", target / ".env")
    return files


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    project = home / "clone"
    files = _fresh_copy(project)
    user_settings = home / "user-settings"
    # Lab saves only when the test says so: autosave off.
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
        # the server and its kernels import the copy's tutorial_kit, not the editable install's
        "PYTHONPATH": str(project),
        "TUTORIAL_LAB_LOG": str(home / "server.log"),
    }
    lab = Lab(f"http://127.0.0.1:{port}/", token, env, port, project, home, files)
    command = [
        sys.executable, "-m", "tutorial_kit.machinery.lab", "--no-browser", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={user_settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]  # fmt: skip
    with (home / "make-lab.out").open("wb") as out, (home / "make-lab.err").open("wb") as err:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=out, stderr=err)
    try:
        _wait_until_up(lab, process, home / "server.log")
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_make_lab_prints_the_address_in_chinese_first_and_keeps_the_server_log_in_a_file(lab: Lab) -> None:
    printed = (lab.home / "make-lab.out").read_text(encoding="utf-8")
    address = f"http://127.0.0.1:{lab.port}/lab/tree/notebooks?token={lab.token}"
    assert printed.splitlines()[0] == f"JupyterLab 已启动，在浏览器中打开：{address}", printed
    assert str(lab.home / "server.log") in printed.splitlines()[1]
    assert not SERVER_LOG_LINE.search(printed + (lab.home / "make-lab.err").read_text(encoding="utf-8"))
    assert SERVER_LOG_LINE.search((lab.home / "server.log").read_text(encoding="utf-8"))


def test_a_second_make_lab_prints_the_running_servers_address(lab: Lab) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.lab"],
        cwd=lab.project,
        env=lab.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    address = f"http://127.0.0.1:{lab.port}/lab/tree/notebooks?token={lab.token}"
    assert second.stdout.splitlines()[0] == f"JupyterLab 已在运行（本项目），在浏览器中打开：{address}"


def test_the_server_serves_the_project_root_with_dotfiles_but_not_tool_folders(lab: Lab) -> None:
    names = {item["name"] for item in lab.api("api/contents/")["content"]}
    assert {"notebooks", "images", "README.md", ".env.example", ".env"} <= names
    assert not names & {".git", ".venv", ".cache", "__pycache__"}


def _kernel_idle(page: Any) -> None:
    page.wait_for_function(KERNEL_IDLE_SCRIPT, timeout=START_TIMEOUT * 1000)


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
    """Run > Run All Cells, once Lab enables it. Lab greys the item out until the notebook is its current
    widget, and a forked kernel can be idle before that: a click on a greyed item does nothing."""
    page.evaluate(RUN_STARTED_WATCH)
    item = page.locator("li[data-command='runmenu:run-all']")
    for _ in range(150):
        page.click(".lm-MenuBar-item:has-text('Run')")
        item.wait_for()
        if "lm-mod-disabled" not in (item.get_attribute("class") or ""):
            item.click()
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
    pytest.fail("Run > Run All Cells stayed disabled for 30 s")


def _save(page: Any, name: str) -> None:
    page.click(".lm-MenuBar-item:has-text('File')")
    page.click("li[data-command='docmanager:save']")
    page.wait_for_function(
        "name => [...document.querySelectorAll('li.lm-TabBar-tab')]"
        ".some(t => t.textContent.includes(name) && !t.classList.contains('jp-mod-dirty'))",
        arg=name,
        timeout=60_000,
    )  # Lab clears the dirty mark only once the server has written the file


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:160] + "…"


def _differences(before: bytes, after: bytes) -> str:
    """Which cells changed between the stored lesson and the one Lab saved, one line each."""
    try:
        old, new = json.loads(before), json.loads(after)
    except ValueError as error:
        return f"not JSON: {error}"
    lines = [f"notebook {key}" for key in ("metadata", "nbformat", "nbformat_minor") if old.get(key) != new.get(key)]
    if len(old["cells"]) != len(new["cells"]):
        lines.append(f"{len(old['cells'])} cells stored, {len(new['cells'])} saved")
    for number, (stored, saved) in enumerate(zip(old["cells"], new["cells"], strict=False)):
        for key in sorted(set(stored) | set(saved)):
            if stored.get(key) != saved.get(key):
                lines.append(f"cell {number} {key}: {_short(stored.get(key))} → {_short(saved.get(key))}")
    return "\n".join(lines[:12]) or "same JSON, different bytes (formatting)"


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


# Set before Run All: true once any code cell's prompt shows [*], however briefly (a mutation observer, not a
# poll: a short lesson in a warm kernel can finish between two polls).
RUN_STARTED_WATCH = f"""
() => {{
  window.__runStarted = false;
  const running = () => ({PROMPTS_SCRIPT})([...document.querySelectorAll('.jp-CodeCell')])
    .some(prompt => prompt.includes('*'));
  const observer = new MutationObserver(() => {{
    if (running()) {{ window.__runStarted = true; observer.disconnect(); }}
  }});
  observer.observe(document.body, {{subtree: true, childList: true, characterData: true}});
}}
"""


KERNEL_IDLE_SCRIPT = (
    "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /\\|\\s*Idle/.test(e.textContent))"
)
# Finished: no cell queued or running and the kernel idle, seen on two checks in a row. Checked in the page
# every 100 ms (no round trip to the test per check); the count of quiet checks lives on the window.
RUN_ALL_FINISHED_SCRIPT = f"""
() => {{
  const prompts = ({PROMPTS_SCRIPT})([...document.querySelectorAll('.jp-CodeCell')]);
  const busy = prompts.some(prompt => prompt.includes('*')) || !({KERNEL_IDLE_SCRIPT})();
  window.__quietChecks = busy ? 0 : (window.__quietChecks || 0) + 1;
  return window.__quietChecks >= 2;
}}
"""


def _wait_for_run_all(page: Any, lesson: str) -> list[str]:
    """Until no cell is queued or running and the kernel is idle, seen twice a tenth of a second apart (Run
    All marks every cell [*] at once, so no gap between two cells looks finished)."""
    page.wait_for_function(
        "() => window.__runStarted || document.querySelectorAll('.jp-CodeCell .jp-InputPrompt').length === 0",
        timeout=30_000,
    )
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate("() => { window.__quietChecks = 0; }")
    try:
        page.wait_for_function(RUN_ALL_FINISHED_SCRIPT, polling=100, timeout=RUN_ALL_TIMEOUT * 1000)
    except PlaywrightTimeout:
        pytest.fail(f"{lesson}: run-all did not finish within {RUN_ALL_TIMEOUT} s")
    return _prompts(page)


def _shut_down_kernels(lab: Lab) -> None:
    for session in lab.api("api/sessions"):
        lab.api(f"api/sessions/{session['id']}", method="DELETE")


# Half the lessons here, the rest in test_browser_lab_later.py with a Lab and a clone of its own: pytest-xdist
# gives each file to one worker (--dist loadfile), so the two halves run at the same time.
FIRST_LESSONS = [lesson for lesson in LESSONS if lesson.name < "08"]
LATER_LESSONS = [lesson for lesson in LESSONS if lesson.name >= "08"]


# A small laptop's browser window. Headless Chromium paints in software, and Lab repaints the visible cells at
# every output of a Run All: on test_browser_lab.py alone, 2 cores, 68.8 and 64.6 s of CPU at 1400 × 900,
# 59.7 s at 1000 × 600 (800 × 500: 57.0 s). The checks read the page's elements, not its pixels (prompts,
# outputs and pop-ups wherever they are; each image is scrolled into view; ✓/× are drawn on a canvas).
LESSON_VIEWPORT = {"width": 1000, "height": 600}


class LabWindow:
    """One Lab window for the lessons of a file, as a learner keeps one open and opens lesson after lesson
    from the file browser (JupyterLab's front end boots once, not once per lesson). A lesson whose test
    failed may leave a dialog or an unsaved tab behind: the window is then closed and the next lesson
    gets a fresh one."""

    def __init__(self, lab: Lab, browser: Any) -> None:
        self.lab, self.browser, self.page, self.opened = lab, browser, None, 0

    def ready(self) -> Any:
        if self.page is None:
            self.opened += 1  # a workspace of its own: nothing a failed lesson left open is restored
            self.page = self.browser.new_page(viewport=LESSON_VIEWPORT)
            self.page.goto(self.lab.url(f"lab/workspaces/lessons-{self.opened}/tree/notebooks"))
            _listing(self.page)
        return self.page

    def discard(self) -> None:
        if self.page is not None:
            self.page.close()
            self.page = None


@pytest.fixture(scope="module")
def lab_window(lab: Lab, browser: Any) -> Iterator[LabWindow]:
    window = LabWindow(lab, browser)
    yield window
    window.discard()


def _open_from_file_browser(page: Any, name: str) -> None:
    """Double-click the lesson in the file browser (showing notebooks/) and wait for its tab."""
    page.locator(".jp-DirListing-content .jp-DirListing-itemText").get_by_text(name, exact=True).dblclick()
    page.wait_for_selector(f"li.lm-TabBar-tab.jp-mod-current:has-text('{name}')", timeout=START_TIMEOUT * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=START_TIMEOUT * 1000)


def _close_tab(page: Any, name: str) -> None:
    page.click(f"li.lm-TabBar-tab:has-text('{name}') .lm-TabBar-tabCloseIcon")
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel')", timeout=30_000)


@pytest.mark.parametrize("lesson", FIRST_LESSONS, ids=lambda path: path.stem)
def test_lesson_opens_unmodified_runs_and_saves_byte_identical(lab: Lab, lab_window: LabWindow, lesson: Path) -> None:
    check_lesson_in_lab(lab, lab_window, lesson)


def check_lesson_in_lab(lab: Lab, window: LabWindow, lesson: Path) -> None:
    """Opened from the file browser: not dirty, no pop-up. Run All: every cell ran, no more error output
    than stored, every image loaded, ✓/× real glyphs. Saved: the file is byte for byte what it was.
    Closed: its tab, and its kernel shut down."""
    path = lab.project / "notebooks" / lesson.name
    before = path.read_bytes()
    page = window.ready()
    try:
        _open_from_file_browser(page, lesson.name)
        _kernel_idle(page)
        # Lab writes the kernel's metadata into the model once it connects (with the kernel info that comes
        # before Idle). A metadata change that lands later still fails the byte-for-byte check after saving.
        page.wait_for_timeout(500)
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
        if "from tutorial_kit.exercises import check" in lesson.read_text(encoding="utf-8"):
            assert_real_glyph(page, ".jp-OutputArea-output", PASS, f"Lab {lesson.stem}")
        shown = page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.textContent).join('')")
        if FAIL in shown:
            assert_real_glyph(page, ".jp-OutputArea-output", FAIL, f"Lab {lesson.stem}")
        assert _popups(page) == []
        _save(page, lesson.name)
        _close_tab(page, lesson.name)
    except BaseException:
        window.discard()
        raise
    finally:
        _shut_down_kernels(lab)
    after = path.read_bytes()
    assert after == before, f"{lesson.name}: Run All + save in replay changed the file:\n{_differences(before, after)}"


def test_no_file_of_the_clone_changed_after_its_lessons_ran_and_were_saved(lab: Lab) -> None:
    assert_clone_unchanged(lab)


def assert_clone_unchanged(lab: Lab) -> None:
    changed = [
        name
        for name, digest in lab.files.items()
        if not (lab.project / name).is_file() or hashlib.sha256((lab.project / name).read_bytes()).hexdigest() != digest
    ]
    assert changed == [], f"files that differ from the clone after running and saving its lessons: {changed}"
