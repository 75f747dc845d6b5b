"""What the browser tests share: the system Chromium driven by Playwright, screenshots, lesson facts.

Playwright never downloads a browser here (no ``playwright install``): it drives the
Chromium the system package manager installed. Without one, the browser tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = PROJECT_ROOT / ".cache" / "screenshots"
LESSONS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# No sandbox (containers, root), no GPU, and nothing that phones home: the machine may have no network.
CHROMIUM_ARGUMENTS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
INSTALL_HINT = "Debian/Ubuntu：apt-get install chromium fonts-noto-cjk；其他系统装好 Chromium 后设 CHROMIUM_PATH"


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "浏览器测试跳过：没有安装 playwright（make test 会安装 requirements-browser.txt）"
    if chromium_path() is None:
        return f"浏览器测试跳过：找不到 Chromium（{INSTALL_HINT}）"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium for a whole test module; skips the test when there is none."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGUMENTS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def expected_images(lesson: Path) -> int:
    """Pictures a reader must see in a lesson: markdown images plus stored image outputs."""
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    count = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            count += source.count("![")
        for output in cell.get("outputs", []):
            count += any(mime.startswith("image/") for mime in output.get("data", {}))
    return count


def stored_stderr_outputs(lesson: Path) -> int:
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    return sum(
        1
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr" or output.get("output_type") == "error"
    )


# Scroll every image into view, wait for it, and report those that did not load.
BROKEN_IMAGES_SCRIPT = """
async (root) => {
  const images = [...document.querySelectorAll(root + ' img')];
  const broken = [];
  for (const image of images) {
    image.scrollIntoView();
    if (!image.complete) {
      await new Promise(done => { image.onload = image.onerror = done; setTimeout(done, 10000); });
    }
    if (!image.naturalWidth) broken.push((image.getAttribute('src') || '').slice(0, 100));
  }
  return {count: images.length, broken};
}
"""
