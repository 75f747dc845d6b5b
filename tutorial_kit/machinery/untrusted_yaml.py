"""YAML the project may not have written (a cassette or manifest from a pull request or a download):
its limits are checked before anything builds objects from it.

The size is checked on disk, before the file is read. Then libyaml streams the parse events (no
recursion, no objects) to bound the nesting depth -- PyYAML's C composer recurses once per level,
so ~30,000 nested brackets crash the process -- and to refuse aliases: ``make record`` never writes
one, and an alias bomb makes everything that walks the result (the secret scan, the shape checks)
take exponential time. Only then may a loader build it, its recursion bounded by the depth checked.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _EventSource
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _EventSource  # type: ignore[assignment]

MAX_DEPTH = 64
"""Nesting levels allowed; a recorded cassette has about 6 (bodies are strings, not YAML)."""
CASSETTE_MAX_BYTES = 16 * 1024 * 1024
"""The largest committed cassette has 66 kB; images sent as base64 stay well under this."""
MANIFEST_MAX_BYTES = 2 * 1024 * 1024


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` for any file, the project's own or not: depth and aliases checked first
    (:func:`check_structure`), then parsed by libyaml where PyYAML has it, ten times faster than pure Python
    (the manifest, read in every lesson's first cell: 71 ms, 7 ms). The check comes first because libyaml's
    composer recurses once per level."""
    check_structure(text)
    return yaml.load(text, Loader=_EventSource)  # a safe loader: CSafeLoader, or SafeLoader without libyaml


def fresh_copy(value: Any) -> Any:
    """A copy of parsed YAML the caller may change: new dicts and lists, the same immutable scalars
    (strings, numbers, dates). 3.7 times faster than copy.deepcopy, which make test's corruption sweep
    ran 3,000 times (3.6 s); for all 26 committed cassettes, 3 ms against 106 ms to check and parse them."""
    if type(value) is dict:
        return {key: fresh_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [fresh_copy(item) for item in value]
    if value is None or isinstance(value, str | int | float | bytes | dt.date):
        return value
    return copy.deepcopy(value)  # anything else YAML can build (a set, say): the shape checks refuse it later


class YamlLimitError(ValueError):
    """Too big, too deep, or uses aliases: the message is one Chinese phrase naming the limit."""


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.0f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} kB"


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused before reading when it is larger than ``max_bytes``."""
    size = path.stat().st_size
    if size > max_bytes:
        raise YamlLimitError(f"文件有 {_size(size)}，超过上限 {_size(max_bytes)}")
    return path.read_bytes()


def check_structure(text: str | bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`YamlLimitError` if the YAML nests deeper than ``max_depth`` or uses an alias;
    syntax errors surface as ``yaml.YAMLError`` as they would from a loader."""
    depth = 0
    for event in yaml.parse(text, Loader=_EventSource):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > max_depth:
                raise YamlLimitError(f"嵌套超过 {max_depth} 层")
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            raise YamlLimitError("用了 YAML 别名（*），make record 从不写别名")
