"""A start-up cost the project's processes need not pay: jsonschema's IRI grammar.

jsonschema (imported by nbformat, jupyter_server, jupyter_events and the MCP SDK) imports
rfc3987-syntax, when it is installed (Jupyter's dependencies install it), only to check the
"iri" string format, and that package builds its Earley parsers on import: 0.8 s of CPU in
every process that reads a notebook (``import nbformat``: 0.93 s with it, 0.12 s without),
and ``make test`` starts dozens of them (pytest's workers, each ``make record`` and
``make rehearse``, JupyterLab, the site build). No schema these processes validate has an
iri field, and jsonschema checks formats only when asked, so they treat the package as not
installed. Known upstream: python-jsonschema/jsonschema#1428.

The machinery package runs it on import, so every process that imports any machinery module
skips the grammar: record, rehearse, the site build, a lesson's kernel once it starts a
session; pytest and its workers, which load this module as a plugin first (``-p`` in
pyproject.toml, before nbval imports nbformat); JupyterLab, started as ``python -m
tutorial_kit.machinery.start_up jupyterlab ...``; check-jsonschema in tests/test_workflows.py the same way.
"""

from __future__ import annotations

import runpy
import sys


def skip_iri_grammar() -> None:
    """Make ``import rfc3987_syntax`` fail as if it were not installed (unless already imported)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main() -> None:
    """``python -m tutorial_kit.machinery.start_up MODULE ARGS...``: run MODULE as ``python -m`` would."""
    if len(sys.argv) < 2:
        sys.exit("用法：python -m tutorial_kit.machinery.start_up 模块名 [参数…]")
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
