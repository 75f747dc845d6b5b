"""Sphinx configuration of the web edition (make site).

The sources are staged by tutorial_kit/machinery/site_build.py.
"""

project = "大模型 API 入门笔记本"
author = "本项目贡献者"
copyright = "本项目贡献者"
language = "zh_CN"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The stored outputs are what really ran (make record keeps them): show them, never execute.
nb_execution_mode = "off"
nb_merge_streams = True
# Reference answers are hidden-source cells (hide-input); the toggle speaks the lessons' language.
nb_code_prompt_show = "显示折叠的代码"
nb_code_prompt_hide = "隐藏代码"
myst_heading_anchors = 3
# {width=...} after an image: site_build enlarges pictures made small for a model.
myst_enable_extensions = ["attrs_inline"]

# pydata-sphinx-theme (maintained; sphinx-book-theme, built on it, is in maintenance mode).
html_theme = "pydata_sphinx_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["site.css"]
templates_path = ["_templates"]
# Chinese for the few interface strings the theme's own zh catalogue leaves in English.
locale_dirs = ["locale"]
gettext_compact = False
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_context = {"default_mode": "light"}
html_theme_options = {
    "navbar_start": ["navbar-logo"],
    "navbar_center": [],
    # No light/dark switcher: its hidden labels were the first words of every search result.
    "navbar_end": [],
    "navbar_persistent": ["search-button-field"],  # the one search box
    "search_bar_text": "搜索课程……",
    "article_header_start": [],  # no breadcrumbs: the site is one level deep
    "secondary_sidebar_items": ["page-toc"],
    "show_toc_level": 2,
    "show_prev_next": True,
    "navigation_with_keys": False,
    "footer_start": ["footer-note.html"],
    "footer_center": [],
    "footer_end": [],
}
html_sidebars = {"**": ["lesson-nav.html"]}

# Chinese full-text search: Sphinx segments words with jieba (its English start-up log silenced).
html_search_language = "zh"


def setup(app):
    import logging

    import jieba
    from sphinx.search.zh import SearchChinese

    jieba.setLogLevel(logging.WARNING)

    class ChineseSearchNamingItsStemmer(SearchChinese):
        """Sphinx 9.0 writes ``window.Stemmer = ChineseStemmer`` although the zh search ships the
        English stemmer, so search pages fail in the browser (sphinx-doc/sphinx#14229, fixed upstream
        after 9.0.4): give the class name that exists."""

        language_name = "English"

    app.add_search_language(ChineseSearchNamingItsStemmer)
    app.connect("build-finished", _chinese_toggle_label)


def _chinese_toggle_label(app, exception):
    """MyST-NB writes an English screen-reader label on the folded-code toggle; say it in Chinese."""
    if exception is not None or app.builder.format != "html":
        return
    from pathlib import Path

    english, chinese = 'aria-label="Toggle hidden content"', 'aria-label="展开或折叠代码"'
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if english in text:
            page.write_text(text.replace(english, chinese), encoding="utf-8")
