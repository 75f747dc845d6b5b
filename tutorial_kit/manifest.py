"""The cassette manifest: where every recording came from (DESIGN.md section 4)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .recording import CASSETTE_DIR

MANIFEST_PATH = CASSETTE_DIR / "manifest.yaml"
LOCK_PATH = CASSETTE_DIR / ".manifest.lock"
HEADER = (
    "# 由 make record 维护：每个录制文件的来源（服务器、模型、日期、SDK 版本）。\n"
    "# notebooks: 每个笔记本里保存的输出来自哪个服务商的录制（回放时的默认服务商）。\n"
)


def load() -> dict[str, Any]:
    if not MANIFEST_PATH.is_file():
        return {"cassettes": {}, "notebooks": {}}
    data = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8")) or {}
    data.setdefault("cassettes", {})
    data.setdefault("notebooks", {})
    return data


def save(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=True, width=100)
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST_PATH.write_text(HEADER + text, encoding="utf-8")


def update_entries(change: Callable[[dict[str, Any]], None]) -> None:
    """Read, ``change`` in place and write the manifest under an exclusive lock, so that
    several ``make record`` runs at once never lose each other's entries; the new file
    replaces the old in one rename, so a reader never sees half of it."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_PATH.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load()
        change(data)
        text = HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=True, width=100)
        handle, temp = tempfile.mkstemp(dir=MANIFEST_PATH.parent, prefix=".manifest-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temp, 0o644)  # mkstemp makes it private; the manifest is an ordinary tracked file
            os.replace(temp, MANIFEST_PATH)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def key_for(path: Path) -> str:
    return path.relative_to(CASSETTE_DIR).as_posix()


def entry_for(provider: str, notebook: str) -> dict[str, Any] | None:
    return load()["cassettes"].get(f"{provider}/{notebook}.yaml")


def shown_provider(notebook: str) -> str | None:
    """The provider whose recording produced the outputs stored in the notebook."""
    return load()["notebooks"].get(notebook)
