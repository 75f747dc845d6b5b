"""The web edition: built offline with warnings as errors, then read page by page in the system Chromium."""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import BROKEN_IMAGES_SCRIPT, LESSONS, assert_real_glyph, expected_images, screenshot

from tutorial_kit.machinery import manifest, site_build
from tutorial_kit.marks import PASS

SEARCH_WORD = "流式"  # a Chinese word: jieba must have segmented it out of running text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built by the command make site runs; what it printed is kept beside the pages."""
    root = tmp_path_factory.mktemp("site")
    output = root / "html"
    command = [sys.executable, "-m", "tutorial_kit.machinery.site_build", "--output", str(output)]
    built = subprocess.run(
        [*command, "--staging", str(root / "src")],
        cwd=site_build.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    printed = built.stdout + built.stderr
    assert built.returncode == 0, f"make site failed (Sphinx warnings are errors):\n{printed[-3000:]}"
    (root / "make-site.out").write_text(printed, encoding="utf-8")
    return output


def test_make_site_prints_one_line_and_no_warning(site: Path) -> None:
    printed = (site.parent / "make-site.out").read_text(encoding="utf-8").strip().splitlines()
    assert printed == [f"网页版已生成：{site / 'index.html'}（用浏览器打开）"]


def test_every_lesson_has_a_page_and_the_index_lists_them_in_order(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'href="notebooks/([0-9][0-9]_[^"#]+)\.html"', index)
    in_order = list(dict.fromkeys(linked))
    assert in_order == [lesson.stem for lesson in LESSONS]
    for lesson in LESSONS:
        assert (site / "notebooks" / f"{lesson.stem}.html").is_file()
    assert (site / "sources.html").is_file()


def test_every_lesson_page_says_where_its_recordings_came_from(site: Path) -> None:
    entries = manifest.load()["cassettes"].values()
    for lesson in LESSONS:
        html = (site / "notebooks" / f"{lesson.stem}.html").read_text(encoding="utf-8")
        page = re.sub(r"<[^>]+>", "", html)
        assert "录制来源与自己运行" in page and "make lab" in page, lesson.stem
        for entry in (entry for entry in entries if entry["notebook"] == lesson.stem):
            if entry["origin"] == "fixture":
                assert entry["docs_url"] in page, (lesson.stem, entry["provider"])
            else:
                assert entry["recorded_on"] in page and entry["models"]["chat"] in page, (lesson.stem, entry)


def test_provenance_of_a_lesson_without_recordings_says_so() -> None:
    text = site_build.provenance_markdown("99_nothing", {"cassettes": {}})
    assert "没有 API 调用的录制" in text and "make lab" in text


def test_a_reference_answer_folded_in_lab_is_folded_on_the_site() -> None:
    for lesson in LESSONS:
        staged = site_build.staged_notebook(lesson, {"cassettes": {}})
        for cell in staged.cells:
            if cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
                assert site_build.HIDDEN_SOURCE_TAG in cell.metadata.get("tags", []), lesson.stem


def test_the_folded_answer_toggle_says_what_the_lessons_tell_readers_to_click(site: Path) -> None:
    """Lessons say 网页版点击“显示折叠的代码”: the page's toggle must carry those words."""
    for lesson in LESSONS:
        text = lesson.read_text(encoding="utf-8")
        if "显示折叠的代码" in text:
            page = (site / "notebooks" / f"{lesson.stem}.html").read_text(encoding="utf-8")
            assert "显示折叠的代码</p>" in page, lesson.stem


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def _pages(site: Path) -> list[str]:
    return sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html") if "_static" not in path.parts)


def _local_target(site: Path, base: str, href: str) -> Path | None:
    """The file an in-site link points to, or None for links that leave the site."""
    if not href.startswith(base):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(href).path).lstrip("/")
    target = site / path
    return target / "index.html" if target.is_dir() else target


def test_every_page_loads_with_no_broken_image_link_or_script(site: Path, served: str, browser: Any) -> None:
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.on("pageerror", lambda error: problems.append(f"{page.url}: script error {error}"))
    page.on("requestfailed", lambda request: problems.append(f"{page.url}: failed {request.url}"))
    page.on("response", lambda reply: reply.status >= 400 and problems.append(f"{reply.status} {reply.url}"))
    try:
        for name in _pages(site):
            page.goto(served + name, wait_until="load")
            images = page.evaluate(BROKEN_IMAGES_SCRIPT, "body")
            problems += [f"{name}: image did not load: {src}" for src in images["broken"]]
            lesson = next((lesson for lesson in LESSONS if name == f"notebooks/{lesson.stem}.html"), None)
            if lesson is not None and images["count"] < expected_images(lesson):
                problems.append(f"{name}: {images['count']} images shown, {expected_images(lesson)} in the lesson")
            hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            for href in set(hrefs):
                target = _local_target(site, served, href)
                if target is not None and not target.exists():
                    problems.append(f"{name}: broken link {href}")
            page.evaluate("window.scrollTo(0, 0)")
            screenshot(page, "site-" + name.removesuffix(".html").replace("/", "-"))
    finally:
        page.close()
    assert problems == []


SEARCH_FINISHED = """() => {
  const links = document.querySelectorAll('#search-results li a').length;
  const summary = document.querySelector('#search-results .search-summary')?.innerText || '';
  return (links > 0 && summary.includes(String(links)))
    || /没有|did not match/.test(document.querySelector('#search-results')?.innerText || '');
}"""


@pytest.fixture(scope="module")
def search_hits(served: str, browser: Any) -> list[dict[str, str]]:
    """The site's search page for SEARCH_WORD, as a reader sees it once it has finished: each hit's link and
    the lesson text shown under it."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto(f"{served}search.html?q={urllib.parse.quote(SEARCH_WORD)}")
        # Sphinx shows the hits one by one and writes the summary ("…有 N 个页面") only after the last one
        page.wait_for_function(SEARCH_FINISHED, timeout=30_000)
        page.wait_for_timeout(1000)  # the text under each hit arrives after the links
        screenshot(page, "site-search")
        return page.eval_on_selector_all(
            "#search-results li",
            "items => items.map(i => ({href: i.querySelector('a').getAttribute('href'),"
            " summary: (i.querySelector('p.context') || {}).textContent || ''}))",
        )
    finally:
        page.close()


def test_search_finds_a_chinese_word(search_hits: list[dict[str, str]]) -> None:
    found = [hit["href"] for hit in search_hits]
    expected = [lesson.stem for lesson in LESSONS if SEARCH_WORD in lesson.read_text(encoding="utf-8")]
    assert expected, f"no lesson mentions {SEARCH_WORD}; pick another word"
    assert {stem for stem in expected if any(stem in href for href in found)} == set(expected)


# Stored outputs are data (issue 22). Each vector below would run script if the site rendered it
# as the notebook format allows; every one reports itself by fetching /pwned-<name> or setting a flag.
def _beacon(name: str) -> str:
    return f"fetch('/pwned-{name}');window.__pwned=(window.__pwned||[]).concat('{name}')"


HOSTILE_OUTPUTS: dict[str, dict[str, Any]] = {
    "html-script": {"output_type": "display_data", "metadata": {},
                    "data": {"text/html": f"<script>{_beacon('html-script')}</script>", "text/plain": "<HTML>"}},
    "html-img": {"output_type": "display_data", "metadata": {},
                 "data": {"text/html": f'<img src="x" onerror="{_beacon("html-img")}">'}},
    "markdown": {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                 "data": {"text/markdown": f'**bold** <img src="y" onerror="{_beacon("markdown")}">'}},
    "javascript": {"output_type": "display_data", "metadata": {},
                   "data": {"application/javascript": _beacon("javascript")}},
    "svg": {"output_type": "display_data", "metadata": {},
            "data": {"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{_beacon("svg")}"></svg>'}},
    "fake-png": {"output_type": "display_data", "metadata": {},
                 "data": {"image/png": "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "text/plain": "<Figure>"}},
    "stream": {"output_type": "stream", "name": "stdout", "text": f"<script>{_beacon('stream')}</script>\n"},
    "error": {"output_type": "error", "ename": "E", "evalue": "<script>x</script>",
              "traceback": [f"<img src=z onerror=\"{_beacon('error')}\">"]},
}  # fmt: skip
HOSTILE_SERVER = (
    f'llama.cpp` <img src=s onerror="{_beacon("server")}"> `x\n\n'
    f"```{{raw}} html\n<script>{_beacon('server-raw')}</script>\n```"
)
HOSTILE_MODEL = f"m` <script>{_beacon('model')}</script>"
HOSTILE_DOCS = f"javascript:{_beacon('docs')}"


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat

    root = tmp_path_factory.mktemp("hostile")
    lessons = root / "notebooks"
    lessons.mkdir()
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}}
    )
    notebook.cells.append(nbformat.v4.new_markdown_cell("# 99 恶意输出"))
    for name, output in HOSTILE_OUTPUTS.items():
        cell = nbformat.v4.new_code_cell(f"# {name}")
        cell.outputs = [nbformat.from_dict(output)]
        notebook.cells.append(cell)
    nbformat.write(notebook, lessons / "99_hostile.ipynb")
    models = {"chat": HOSTILE_MODEL, "vision": None, "code": "c", "reasoning": None, "embedding": None}
    data = {"cassettes": {
        "local/99_hostile.yaml": {"provider": "local", "notebook": "99_hostile", "origin": "recorded",
                                  "recorded_on": "2026-01-01", "server": HOSTILE_SERVER, "models": models},
        "zhipu/99_hostile.yaml": {"provider": "zhipu", "notebook": "99_hostile", "origin": "fixture",
                                  "docs_url": HOSTILE_DOCS, "models": models},
    }}  # fmt: skip
    patch = pytest.MonkeyPatch()
    patch.setattr(site_build, "NOTEBOOK_DIR", lessons)
    patch.setattr(site_build.manifest, "load", lambda *args, **kwargs: data)
    try:
        assert site_build.build(output=root / "html", staging=root / "src") == 0
    finally:
        patch.undo()
    return root / "html"


def test_no_stored_output_or_manifest_field_runs_script_on_the_site(hostile_site: Path, browser: Any) -> None:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(hostile_site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    requested: list[str] = []
    page = browser.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: requested.append("dialog " + dialog.message))
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        page.goto(base + "notebooks/99_hostile.html", wait_until="load")
        for link in page.query_selector_all("a[href^='javascript:']"):
            requested.append("javascript link " + (link.get_attribute("href") or ""))
        page.wait_for_timeout(500)
        ran = page.evaluate("window.__pwned || []")
        text = page.inner_text("main")
    finally:
        page.close()
        server.shutdown()
    beacons = [url for url in requested if "pwned" in url or url.startswith(("dialog", "javascript"))]
    assert (ran, beacons) == ([], []), f"script ran: {ran} {beacons}"
    for name in ("html-img", "markdown", "javascript", "svg", "stream"):  # no text/plain: their source is shown
        assert f"pwned-{name}" in text, name
    assert "llama.cpp" in text and HOSTILE_MODEL.split("`")[0] in text


def test_stored_outputs_are_staged_as_text_or_a_real_png_only() -> None:
    """Without a browser too: what the site is given holds nothing it would render as markup."""
    import nbformat

    staged = [site_build.inert_output(nbformat.from_dict(output)) for output in HOSTILE_OUTPUTS.values()]
    for output in staged:
        assert set(output.get("data", {})) <= {"text/plain"}, output
    png = "iVBORw0KGgo=" + "A" * 8  # the PNG signature, base64
    kept = site_build.inert_output(nbformat.from_dict(
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": "<Figure>"}}
    ))  # fmt: skip
    assert set(kept.data) == {"image/png", "text/plain"}
    note = site_build.provenance_markdown("99_hostile", {"cassettes": {
        "a": {"provider": "local", "notebook": "99_hostile", "origin": "recorded", "server": HOSTILE_SERVER,
              "recorded_on": "2026-01-01", "models": {"chat": HOSTILE_MODEL}},
        "b": {"provider": "zhipu", "notebook": "99_hostile", "origin": "fixture", "docs_url": HOSTILE_DOCS},
    }})  # fmt: skip
    from markdown_it import MarkdownIt

    body = note.split("\n", 3)[3].rsplit("\n", 1)[0]  # inside the admonition's fence
    html = MarkdownIt("commonmark").render(body)
    assert not re.search(r"<(script|img|svg|pre)|href=\"javascript", html), html
    assert "llama.cpp` &lt;img" in html and len(note) < 2_000


# What the theme's switcher and search button say: never part of a lesson's text.
THEME_WORDS = ("亮色", "暗色", "System Settings", "Color mode", "Ctrl", "搜索课程")


def test_search_lists_lesson_pages_first_with_lesson_text(search_hits: list[dict[str, str]]) -> None:
    lesson = [("notebooks/" in hit["href"]) for hit in search_hits]
    assert any(lesson) and lesson == sorted(lesson, reverse=True), [hit["href"] for hit in search_hits]
    for hit in search_hits:
        assert not any(word in hit["summary"] for word in THEME_WORDS), hit


def _theme_strings() -> set[str]:
    """The English interface strings of the theme, from its message template."""
    import pydata_sphinx_theme

    pot = Path(pydata_sphinx_theme.__file__).parent / "locale" / "sphinx.pot"
    found = {match.split("%(")[0].strip() for match in re.findall(r'^msgid "(.+)"$', pot.read_text(), re.M)}
    return {text for text in found if len(text) > 2} | {"Toggle hidden content", "Search the docs ..."}


# Text and labels of the page's frame (header, sidebars, footer): everything outside the lesson itself.
FRAME_TEXT_SCRIPT = """
() => {
  const article = document.querySelector('article');
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (article && article.contains(node) || node.parentElement.closest('script, style')) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  for (const element of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
    for (const name of ['aria-label', 'title', 'placeholder']) {
      const value = element.getAttribute(name);
      if (value) texts.push(value.trim());
    }
  }
  return texts;
}
"""
VISIBLE_SEARCH_BOXES = (
    "() => [...document.querySelectorAll('input[type=search], input[name=q], button.search-button-field')]"
    ".filter(e => e.getClientRects().length > 0).length"
)


def test_one_search_box_and_a_chinese_frame_on_every_kind_of_page(served: str, browser: Any) -> None:
    english = _theme_strings()
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        for name in ("index.html", f"notebooks/{LESSONS[0].stem}.html", "search.html?q=API", "sources.html"):
            page.goto(served + name)
            page.wait_for_timeout(500)
            assert page.evaluate(VISIBLE_SEARCH_BOXES) == 1, name
            frame = page.evaluate(FRAME_TEXT_SCRIPT)
            assert sorted(set(frame) & english) == [], name
    finally:
        page.close()


# Every table fits its column; pictures show at their own size, tiny ones (made for a model) larger.
FIT_SCRIPT = """
() => {
  const column = document.querySelector('article').getBoundingClientRect();
  const tooWide = t => t.getBoundingClientRect().width > column.width + 1
    || t.parentElement.scrollWidth > t.parentElement.clientWidth + 1;
  const tables = [...document.querySelectorAll('article table')].filter(tooWide).map(t => t.innerText.slice(0, 60));
  const pictures = [...document.querySelectorAll('article img')].map(i => ({
    src: i.getAttribute('src'), natural: i.naturalWidth, shown: Math.round(i.getBoundingClientRect().width),
    small: i.classList.contains('small-picture'), room: Math.round(i.parentElement.getBoundingClientRect().width)}));
  return {tables, pictures};
}
"""


def test_tables_fit_and_pictures_are_shown_at_a_readable_size(served: str, browser: Any) -> None:
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        for lesson in LESSONS:
            page.goto(f"{served}notebooks/{lesson.stem}.html", wait_until="load")
            page.evaluate(BROKEN_IMAGES_SCRIPT, "article")  # scrolls every picture into view and waits for it
            found = page.evaluate(FIT_SCRIPT)
            problems += [f"{lesson.stem}: table wider than the column: {text!r}" for text in found["tables"]]
            for picture in found["pictures"]:
                natural = picture["natural"]
                if natural < site_build.SMALL_PICTURE_WIDTH and picture["src"].startswith("../_images/"):
                    wanted = natural * site_build.ZOOM  # the lesson's own small picture
                else:
                    wanted = min(natural, picture["room"])
                if abs(picture["shown"] - wanted) > 1:
                    problems.append(f"{lesson.stem}: {picture['src'][:60]} shown {picture['shown']} px, not {wanted}")
        page.goto(f"{served}notebooks/07_tool_calling.html")
        page.locator("article table").last.scroll_into_view_if_needed()  # the table of the providers' differences
        screenshot(page, "site-07-table")
    finally:
        page.close()
    assert problems == []


# A Chinese punctuation mark, then white space, then Chinese: a line break inside a paragraph's source.
STRAY_SPACE = re.compile(r"[，。；：、！？）」』》]\s+[\u4e00-\u9fff（「『《]")


def test_no_stray_space_after_chinese_punctuation(site: Path) -> None:
    found = []
    for page in ["index.html", *(f"notebooks/{lesson.stem}.html" for lesson in LESSONS)]:
        html = (site / page).read_text(encoding="utf-8")
        for paragraph in re.findall(r"<p>(.*?)</p>", html, re.S):
            text = re.sub(r"<[^>]+>", "", paragraph)
            found += [f"{page}: …{match.group(0)}…" for match in STRAY_SPACE.finditer(text)]
    assert found == []


def test_the_check_mark_of_an_exercise_renders_as_a_glyph(served: str, browser: Any) -> None:
    checked = [lesson for lesson in LESSONS if "from tutorial_kit.exercises import check" in lesson.read_text("utf-8")]
    assert checked
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        for lesson in checked:
            page.goto(f"{served}notebooks/{lesson.stem}.html")
            assert_real_glyph(page, "div.cell_output pre", PASS, f"site {lesson.stem}")
    finally:
        page.close()
