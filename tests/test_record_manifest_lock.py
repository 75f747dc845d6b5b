"""Concurrent ``make record`` runs update the manifest without losing each other's entries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

WRITER = """
import sys
from tutorial_kit.machinery import manifest
tag = sys.argv[1]
for n in range(40):
    manifest.update_entries(lambda data, n=n: data["cassettes"].update({f"{tag}/nb{n}.yaml": {"n": n}}))
"""


def test_parallel_writers_keep_every_entry(tmp_path: Path) -> None:
    env = dict(os.environ, TUTORIAL_CASSETTE_DIR=str(tmp_path))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, tag], env=env) for tag in ("a", "b", "c")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    data = yaml.safe_load((tmp_path / "manifest.yaml").read_text(encoding="utf-8"))
    assert len(data["cassettes"]) == 120
    assert not list(tmp_path.glob(".manifest-*.tmp"))
