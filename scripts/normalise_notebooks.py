"""Give every lesson the notebook metadata JupyterLab keeps (see tutorial_kit/machinery/notebook_metadata.py).

Only notebook-level metadata changes; each file is read right before it is written, because
other people may be editing cells at the same time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from tutorial_kit.machinery.notebook_metadata import normalise_metadata

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> int:
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        if normalise_metadata(notebook):
            nbformat.write(notebook, path)
            print(f"normalised {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
