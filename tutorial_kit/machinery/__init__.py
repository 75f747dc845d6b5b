"""The machinery behind the lessons: recording and replay, fixtures, the manifest, scrubbing,
``make record`` and ``make rehearse``, the local server and its build, JupyterLab and the web edition.

Lessons never import from here; they call ``tutorial_kit.start_session`` and the helpers beside it
(``exercises``, ``streaming``, ``sandbox``, ``codeblocks``, ``sort_check``, ``local_search``,
``pricing``, ``budget``, ``concurrency``, ``chinese_font``, ``silent_server``).
"""

from .start_up import skip_iri_grammar

skip_iri_grammar()  # before any machinery module imports nbformat or jsonschema (why: start_up.py)
