"""The cassette manifest: where every recording came from (DESIGN.md section 4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..errors import KitError
from ..providers import PROVIDERS, Models
from .recording import CASSETTE_DIR
from .untrusted_yaml import MANIFEST_MAX_BYTES, YamlLimitError, fresh_copy, read_bounded, safe_load

MANIFEST_PATH = CASSETTE_DIR / "manifest.yaml"
LOCK_PATH = CASSETTE_DIR / ".manifest.lock"
ORIGINS = {"recorded", "fixture"}
HEADER = (
    "# 由 make record 维护：每个录制文件的来源（服务器、模型、日期、SDK 版本）。\n"
    "# notebooks: 每个笔记本里保存的输出来自哪个服务商的录制（回放时的默认服务商）。\n"
)


class ManifestShapeError(ValueError):
    """The manifest parsed, but is not what ``make record`` writes (truncated or edited)."""


def _check_entry(key: str, entry: Any, providers: set[str]) -> None:
    if not isinstance(entry, dict):
        raise ManifestShapeError(f"条目 {key} 不是映射")
    if entry.get("provider") not in providers or not isinstance(entry.get("notebook"), str):
        raise ManifestShapeError(f"条目 {key} 缺少有效的 provider/notebook")
    if key != f"{entry['provider']}/{entry['notebook']}.yaml":
        raise ManifestShapeError(f"条目 {key} 与它的 provider/notebook 不符")
    if entry.get("origin") not in ORIGINS:
        raise ManifestShapeError(f"条目 {key} 的 origin 不是 {'/'.join(sorted(ORIGINS))}")
    if not str(entry.get("base_url", "")).startswith(("http://", "https://")):
        raise ManifestShapeError(f"条目 {key} 缺少 base_url")
    models = entry.get("models")
    fields = Models.__dataclass_fields__
    required = {name for name, spec in fields.items() if spec.default is dataclasses.MISSING}
    if not isinstance(models, dict) or not required <= set(models) <= set(fields):
        raise ManifestShapeError(f"条目 {key} 的 models 不完整")
    if not all(value is None or isinstance(value, str) for value in models.values()):
        raise ManifestShapeError(f"条目 {key} 的 models 取值不是文字")
    for name in ("server", "docs_url", "recorded_on"):
        if name in entry and not isinstance(entry[name], str | dt.date):
            raise ManifestShapeError(f"条目 {key} 的 {name} 不是文字")


def check_shape(data: Any) -> None:
    """What replay relies on. Keys are written sorted, ``notebooks`` last, and record adds a
    notebook row with every entry: so a truncated file lacks rows its entries need."""
    if not isinstance(data, dict) or not isinstance(data.get("cassettes"), dict):
        raise ManifestShapeError("缺少 cassettes 映射")
    if not isinstance(data.get("notebooks"), dict):
        raise ManifestShapeError("缺少 notebooks 映射（文件可能被截断）")
    providers = set(PROVIDERS)
    for key, entry in data["cassettes"].items():
        _check_entry(str(key), entry, providers)
    for notebook, provider in data["notebooks"].items():
        if provider not in providers:
            raise ManifestShapeError(f"notebooks 中 {notebook} 的服务商 {provider!r} 无效")
        if f"{provider}/{notebook}.yaml" not in data["cassettes"]:
            raise ManifestShapeError(f"notebooks 中 {notebook} 没有对应的条目")
    orphans = sorted({entry["notebook"] for entry in data["cassettes"].values()} - set(data["notebooks"]))
    if orphans:
        raise ManifestShapeError(f"notebooks 中缺少 {orphans[0]}（文件可能被截断）")


def _shown(path: Path) -> str:
    return path.relative_to(path.parent.parent).as_posix()


def _parse() -> Any:
    try:  # size before reading; depth and aliases before building (untrusted_yaml.py)
        return fresh_copy(_parse_text(read_bounded(MANIFEST_PATH, MANIFEST_MAX_BYTES).decode("utf-8")))
    except YamlLimitError as error:
        raise ManifestShapeError(str(error)) from None


@functools.lru_cache(maxsize=1)
def _parse_text(text: str) -> Any:
    """Parsed once while the file's text stays the same: start_session reads the manifest twice, and a
    lesson may open several sessions (the caller gets a copy)."""
    data = safe_load(text)  # depth and aliases checked before anything is built
    if data is None:
        raise ManifestShapeError("文件是空的")
    return data


def load(notebook: str | None = None, provider: str | None = None) -> dict[str, Any]:
    """The manifest, checked; a broken one is one line naming the file and the fix.
    ``notebook`` and ``provider`` only fill in the record command that line shows."""
    if not MANIFEST_PATH.is_file():
        return {"cassettes": {}, "notebooks": {}}
    try:
        data = _parse()
        check_shape(data)
    except Exception as error:  # any way of being unreadable gets the same one-line answer
        reason = " ".join(str(error).split())[:80] if isinstance(error, ManifestShapeError) else type(error).__name__
        command = f"make record NB={notebook or '<笔记本>'} PROVIDER={provider or 'local'}"
        raise KitError(
            f"录制清单 {_shown(MANIFEST_PATH)} 已损坏（{reason}）：用 git checkout -- {_shown(MANIFEST_PATH)} 恢复，"
            f"或重新录制：{command}"
        ) from None
    return data


def _load_for_update() -> dict[str, Any]:
    """For ``make record``: a broken manifest must not stop the command that repairs it. Keep
    whatever still parses as the two maps, say so, and let the record add its own entries."""
    if not MANIFEST_PATH.is_file():
        return {"cassettes": {}, "notebooks": {}}
    try:
        data = _parse()
    except Exception:
        data = None
    maps = ("cassettes", "notebooks")
    if isinstance(data, dict) and all(isinstance(data.get(name), dict) for name in maps):
        return data
    print(f"⚠ 录制清单 {_shown(MANIFEST_PATH)} 已损坏：保留其中可读的部分，写入本次录制的条目。", flush=True)
    data = data if isinstance(data, dict) else {}
    return {name: data[name] if isinstance(data.get(name), dict) else {} for name in maps}


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
        data = _load_for_update()
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
    return load(notebook, provider)["cassettes"].get(f"{provider}/{notebook}.yaml")


def shown_provider(notebook: str, provider: str | None = None) -> str | None:
    """The provider whose recording produced the outputs stored in the notebook."""
    return load(notebook, provider)["notebooks"].get(notebook)
