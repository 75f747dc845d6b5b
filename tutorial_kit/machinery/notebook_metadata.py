"""Notebook metadata as JupyterLab writes it, so opening an untouched lesson marks nothing as modified.

When a kernel connects, JupyterLab writes the kernelspec and the kernel's ``language_info``
into the notebook; if they differ from what was loaded, the notebook turns "modified",
closing it asks to save, and saving makes a diff in every learner's clone. The stored form
is exactly what Lab writes except the Python version, which differs between machines: the
project's JupyterLab adds the running Python's version when it loads a notebook and takes it
out again when it saves (``tutorial_kit.machinery.lab_contents``).
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# ipykernel's kernel_info reply, less "version".
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    return {key: _copy(item) if isinstance(item, dict) else item for key, item in value.items()}


def normalise_metadata(notebook: MutableMapping[str, Any]) -> bool:
    """Set the stored kernelspec and language_info in place; return whether anything changed."""
    metadata = notebook.setdefault("metadata", {})
    changed = False
    for key, wanted in (("kernelspec", KERNELSPEC), ("language_info", LANGUAGE_INFO)):
        if metadata.get(key) != wanted:
            metadata[key] = _copy(wanted)
            changed = True
    return changed


def is_normalised(notebook: MutableMapping[str, Any]) -> bool:
    metadata = notebook.get("metadata", {})
    return metadata.get("kernelspec") == KERNELSPEC and metadata.get("language_info") == LANGUAGE_INFO


def add_running_python(notebook: MutableMapping[str, Any]) -> None:
    """What a kernel on this Python will report, so Lab finds nothing to change on connecting."""
    metadata = notebook.get("metadata", {})
    if metadata.get("language_info") == LANGUAGE_INFO:
        metadata["language_info"] = {**_copy(LANGUAGE_INFO), "version": sys.version.split()[0]}
