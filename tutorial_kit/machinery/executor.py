"""The one way the project runs a notebook end to end (make record, make rehearse): papermill."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

from .. import live_errors
from ..errors import KitError
from .kernel_transport import PrivateAsyncKernelManager

CELL_TIMEOUT = 600
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]
"""Kernel start-up arguments: no English log warnings (e.g. "Kernel is running over TCP without encryption")
in the output of make record / make rehearse; errors still show."""
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


class NotebookFailed(KitError):
    """A cell raised; carries where and the error in one line, colour codes removed."""

    def __init__(self, notebook: str, cell_number: int, first_line: str, error_line: str) -> None:
        self.notebook = notebook
        self.cell_number = cell_number
        self.first_line = first_line
        self.error_line = error_line
        super().__init__(f"{notebook} 单元格 [{cell_number}]（{first_line}）出错：{error_line}")


@dataclass(frozen=True)
class Progress:
    """How papermill's per-notebook progress bar looks; ``None`` hides it."""

    label: str
    position: int = 0

    def tqdm_options(self) -> dict[str, object]:
        # disable=None: tqdm shows the bar only on a terminal, so logs get no carriage returns.
        return {"desc": self.label, "position": self.position, "leave": False, "disable": None}


@contextmanager
def environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """The kernel inherits os.environ when it starts; put it back afterwards."""
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def coalesce_streams(notebook: nbformat.NotebookNode) -> None:
    """One output block per stream name per cell, at the place of the first one; the same
    merge nbval applies before comparing, so stored and replayed outputs still agree."""
    for cell in notebook.cells:
        outputs = cell.get("outputs")
        if not outputs:
            continue
        merged: list[nbformat.NotebookNode] = []
        by_name: dict[str, nbformat.NotebookNode] = {}
        for output in outputs:
            if output.get("output_type") != "stream":
                merged.append(output)
            elif output["name"] in by_name:
                by_name[output["name"]]["text"] += output["text"]
            else:
                by_name[output["name"]] = output
                merged.append(output)
        cell["outputs"] = merged


def strip_executor_metadata(executed: nbformat.NotebookNode, original: nbformat.NotebookNode) -> None:
    """Keep the lesson's own metadata: no papermill timings, no kernel version churn."""
    executed.metadata = copy.deepcopy(original.metadata)
    for index, cell in enumerate(executed.cells):
        if index < len(original.cells):
            # papermill adds "tags": [] (and timings) to every cell; a lesson cell keeps its own metadata
            cell.metadata = copy.deepcopy(original.cells[index].metadata)
        else:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)


def _failure(
    notebook: str, error: PapermillExecutionError, skipped_cells: int, cells: list[nbformat.NotebookNode]
) -> NotebookFailed:
    """Where and why, numbered as Lab numbers code cells ([n]) after a top-to-bottom run. A failed live
    call explained by live_errors (its one line is the whole traceback) is reported with that line."""
    source_lines = [line for line in str(error.source).splitlines() if line.strip()]
    first_line = source_lines[0].strip()[:80] if source_lines else "?"
    traceback = [strip_ansi(line).strip() for line in getattr(error, "traceback", None) or []]
    explained = next((line for line in traceback if line.startswith(live_errors.MARK)), None)
    message = explained or strip_ansi(f"{error.ename}: {error.evalue}" if error.evalue else str(error.ename))
    error_line = " ".join(message.split())[:300]
    code_number = sum(cell.cell_type == "code" for cell in cells[skipped_cells : error.cell_index + 1])
    return NotebookFailed(notebook, code_number, first_line, error_line)


def run_notebook(
    notebook: nbformat.NotebookNode,
    *,
    name: str,
    env: Mapping[str, str],
    cwd: Path,
    output_path: Path | None = None,
    progress: Progress | None = None,
    prepended_cells: int = 0,
) -> nbformat.NotebookNode:
    """Run every cell of ``notebook`` (not changed) in a fresh python3 kernel whose
    environment has ``env`` on top of ours. Returns the executed copy; raises
    :class:`NotebookFailed` at the first failing cell (numbered as in the lesson, not
    counting ``prepended_cells`` the caller added). With ``output_path`` papermill
    saves the executed copy there as it goes, failures included."""
    with environment(env):
        try:
            return papermill.execute_notebook(
                copy.deepcopy(notebook),
                str(output_path) if output_path else None,
                kernel_name="python3",
                cwd=str(cwd),
                progress_bar=progress.tqdm_options() if progress else False,
                request_save_on_cell_execute=output_path is not None,
                start_timeout=120,
                timeout=CELL_TIMEOUT,
                record_timing=False,
                extra_arguments=QUIET_KERNEL,
                kernel_manager_class=PrivateAsyncKernelManager,  # private Unix sockets, not loopback TCP
            )
        except PapermillExecutionError as error:
            raise _failure(name, error, prepended_cells, notebook.cells) from None
