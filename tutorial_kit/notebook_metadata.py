"""Notebook metadata as JupyterLab keeps it, so opening an untouched lesson marks nothing as modified.

JupyterLab rewrites the kernelspec when a kernel connects; if the stored one differs, the
notebook turns "modified", closing it asks to save, and saving makes a diff in every learner's
clone. ``language_info`` is left as it is by Lab, so only its machine-independent part is kept
(its full form carries the recording machine's Python version).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}


def normalise_metadata(notebook: MutableMapping[str, Any]) -> bool:
    """Set the notebook-level kernelspec and language_info in place; return whether anything changed."""
    metadata = notebook.setdefault("metadata", {})
    changed = False
    for key, wanted in (("kernelspec", KERNELSPEC), ("language_info", LANGUAGE_INFO)):
        if metadata.get(key) != wanted:
            metadata[key] = dict(wanted)
            changed = True
    return changed


def is_normalised(notebook: MutableMapping[str, Any]) -> bool:
    metadata = notebook.get("metadata", {})
    return metadata.get("kernelspec") == KERNELSPEC and metadata.get("language_info") == LANGUAGE_INFO
