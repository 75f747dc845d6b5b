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

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "show_navbar_depth": 1,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
}

# Chinese full-text search: Sphinx segments words with jieba.
html_search_language = "zh"


def setup(app):
    from sphinx.search.zh import SearchChinese

    class ChineseSearchNamingItsStemmer(SearchChinese):
        """Sphinx 9.0 writes ``window.Stemmer = ChineseStemmer`` although the zh search ships the
        English stemmer, so search pages fail in the browser (sphinx-doc/sphinx#14229, fixed upstream
        after 9.0.4): give the class name that exists."""

        language_name = "English"

    app.add_search_language(ChineseSearchNamingItsStemmer)
