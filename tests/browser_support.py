"""What the browser tests share: the system Chromium driven by Playwright, screenshots, lesson facts.

Playwright never downloads a browser here (no ``playwright install``): it drives the
Chromium the system package manager installed. Without one, the browser tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
INSTALL_HINT = (
    "Debian/Ubuntu：apt-get install chromium-headless-shell fonts-noto-cjk（或 chromium）；"
    "其他系统装好 Chromium 后设 CHROMIUM_PATH"
)
# Chromium's headless shell first: the same Blink, V8 and Skia as the browser without its UI layers, and
# what Playwright itself runs for headless tests. Measured on test_browser_lab.py alone, 2 cores: 63.9 s of
# CPU with the full browser, 52.8 s with the shell (scripts/bench_test.py measures the whole suite).
BROWSER_NAMES = (
    "chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
)  # fmt: skip


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in BROWSER_NAMES:
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


def lab_test_runs() -> bool:
    """Whether test_browser_lab*.py will run its lessons here: playwright and a Chromium, and a git
    work tree to make the fresh clone from (otherwise those tests skip)."""
    if skip_reason() is not None:
        return False
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    return inside.returncode == 0 and inside.stdout.strip() == "true"


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


def screenshot(page: Any, name: str) -> Path | None:
    """A picture for a person to look at, taken only with ``SCREENSHOTS=1 make test``: no assertion reads
    one, and the 40-odd PNGs cost Chromium ~0.5 s of CPU each on every run."""
    if os.environ.get("SCREENSHOTS") != "1":
        return None
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


# Draws a character in the font an element really uses and compares its pixels with the font's
# missing-glyph box (two unassigned code points draw that same box): a character no installed font
# has, such as ✅ without a colour-emoji font, draws exactly that box, one the font has does not.
GLYPH_SCRIPT = """
([selector, mark]) => {
  const element = [...document.querySelectorAll(selector)].find(e => e.textContent.includes(mark));
  if (!element) return null;
  const font = getComputedStyle(element).font;
  const draw = (text) => {
    const canvas = document.createElement('canvas');
    canvas.width = 96; canvas.height = 64;
    const context = canvas.getContext('2d');
    context.font = font; context.textBaseline = 'top'; context.fillStyle = '#000';
    context.fillText(text, 16, 16);
    const pixels = context.getImageData(0, 0, 96, 64).data;
    let left = 96, right = -1, bits = '';
    for (let i = 3; i < pixels.length; i += 4) {
      const on = pixels[i] > 64;
      bits += on ? '1' : '0';
      if (on) { const x = ((i - 3) / 4) % 96; left = Math.min(left, x); right = Math.max(right, x); }
    }
    return {bits, ink: right >= left ? right - left + 1 : 0, advance: context.measureText(text).width};
  };
  const glyph = draw(mark), missing = draw('\\u0378'), missingToo = draw('\\u0379');
  return {
    font, ink: glyph.ink, advance: glyph.advance, missingAdvance: missing.advance,
    boxIsStable: missing.bits === missingToo.bits, isMissingBox: glyph.bits === missing.bits,
  };
}
"""


def assert_real_glyph(page: Any, selector: str, mark: str, where: str) -> None:
    """The mark, inside the first element matching ``selector`` that shows it, renders as a glyph."""
    found = page.evaluate(GLYPH_SCRIPT, [selector, mark])
    assert found is not None, f"{where}: no {selector} shows {mark!r}"
    assert found["boxIsStable"], f"{where}: the missing-glyph reference is not stable: {found}"
    assert found["ink"] > 0 and not found["isMissingBox"], (
        f"{where}: {mark!r} renders as the missing-glyph box in {found['font']} "
        f"(width {found['advance']:.1f} px, the box's {found['missingAdvance']:.1f} px)"
    )
