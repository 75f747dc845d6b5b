from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from tutorial_kit.machinery.notebook_metadata import (
    KERNELSPEC,
    LANGUAGE_INFO,
    add_running_python,
    is_normalised,
    normalise_metadata,
)

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_notebook_has_the_metadata_jupyterlab_keeps(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert is_normalised(notebook), f"{path.name}: 运行 python scripts/normalise_notebooks.py"


def test_normalise_replaces_what_nbclient_or_an_old_kernel_wrote_and_keeps_the_rest() -> None:
    notebook = {
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"},
            "widgets": {"state": {}},
        },
        "cells": [{"cell_type": "code", "metadata": {"tags": ["x"]}, "source": "1"}],
    }
    before_cells = copy.deepcopy(notebook["cells"])
    assert normalise_metadata(notebook) is True
    assert notebook["metadata"] == {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO, "widgets": {"state": {}}}
    assert notebook["cells"] == before_cells
    assert normalise_metadata(notebook) is False


def test_normalised_metadata_is_a_copy_not_shared_state() -> None:
    first, second = {"metadata": {}}, {"metadata": {}}
    normalise_metadata(first)
    normalise_metadata(second)
    first["metadata"]["kernelspec"]["display_name"] = "changed"
    assert second["metadata"]["kernelspec"] == KERNELSPEC
    assert not is_normalised({"metadata": {"kernelspec": KERNELSPEC}})


def test_loading_adds_the_running_python_and_normalising_takes_it_out_again() -> None:
    notebook = {"metadata": {}}
    normalise_metadata(notebook)
    add_running_python(notebook)
    assert notebook["metadata"]["language_info"]["version"] == sys.version.split()[0]
    assert not is_normalised(notebook)
    assert normalise_metadata(notebook) is True
    assert is_normalised(notebook)


def test_a_notebook_with_other_language_info_is_left_alone_on_loading() -> None:
    notebook = {"metadata": {"language_info": {"name": "R"}}}
    add_running_python(notebook)
    assert notebook["metadata"]["language_info"] == {"name": "R"}
