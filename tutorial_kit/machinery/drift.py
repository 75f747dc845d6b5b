"""Drift: has the shape of a provider's responses changed since the recording?

For each request a live run made that the recording also holds (same method, path, query
and JSON body), the live response's *shape* is compared with the recorded one: which
fields exist and what JSON type each has, never the values. A stream is compared event
by event: the fields of all its chunks, and the kinds of chunk (sets of fields) it sends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .traffic import Interaction

Shape = dict[str, set[str]]
"""Field path (``choices[].message.content``) -> the JSON types seen there."""

STATUS_FIELD = "<HTTP 状态码>"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def add_shape(value: Any, shape: Shape, path: str = "") -> None:
    shape.setdefault(path or "(根)", set()).add(type_name(value))
    if isinstance(value, dict):
        for key, item in value.items():
            add_shape(item, shape, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            add_shape(item, shape, f"{path}[]")


def response_shape(interaction: Interaction) -> Shape:
    shape: Shape = {STATUS_FIELD: {str(interaction.status)}}
    for payload in interaction.payloads:
        add_shape(payload, shape)
    return shape


def chunk_kinds(interaction: Interaction) -> set[frozenset[str]]:
    """For a stream: each distinct set of fields a chunk carried."""
    kinds = set()
    for payload in interaction.payloads:
        one: Shape = {}
        add_shape(payload, one)
        kinds.add(frozenset(one))
    return kinds


@dataclass
class RequestDrift:
    label: str
    new: dict[str, set[str]] = field(default_factory=dict)
    missing: dict[str, set[str]] = field(default_factory=dict)
    changed: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    new_chunk_kinds: int = 0
    missing_chunk_kinds: int = 0

    @property
    def drifted(self) -> bool:
        return bool(self.new or self.missing or self.changed or self.new_chunk_kinds or self.missing_chunk_kinds)

    def lines(self) -> list[str]:
        out = _folded("+", self.new) + _folded("-", self.missing)
        out += [
            f"~ {path}: {'|'.join(sorted(old))} → {'|'.join(sorted(now))}"
            for path, (old, now) in sorted(self.changed.items())
        ]
        if self.new_chunk_kinds or self.missing_chunk_kinds:
            out.append(f"~ 流式块的种类：新出现 {self.new_chunk_kinds} 种，不再出现 {self.missing_chunk_kinds} 种")
        return out


def _children(path: str, paths: dict[str, set[str]]) -> list[str]:
    return [other for other in paths if other.startswith((f"{path}.", f"{path}[]"))]


def _first_name(rest: str) -> str:
    """``[].a.b`` or ``.a[].b`` -> ``a``: the first field name below an object or array."""
    return rest.lstrip(".[]").split(".")[0].removesuffix("[]")


def _folded(sign: str, paths: dict[str, set[str]]) -> list[str]:
    """One line per new or missing field; the fields inside a new or missing object are
    named on its line instead of each on its own."""
    out = []
    for path in sorted(paths):
        parent = next((other for other in paths if path != other and path in _children(other, paths)), None)
        if parent is not None:
            continue
        line = f"{sign} {path}: {'|'.join(sorted(paths[path]))}"
        inner = sorted({_first_name(child[len(path) :]) for child in _children(path, paths)} - {""})
        if inner:
            shown = ", ".join(inner[:5]) + (" …" if len(inner) > 5 else "")
            line += f"（含 {shown}）"
        out.append(line)
    return out


def compare(recorded: Interaction, live: Interaction) -> RequestDrift:
    old, now = response_shape(recorded), response_shape(live)
    drift = RequestDrift(label=live.label())
    for path in now.keys() - old.keys():
        drift.new[path] = now[path]
    for path in old.keys() - now.keys():
        drift.missing[path] = old[path]
    for path in old.keys() & now.keys():
        if old[path] != now[path]:
            drift.changed[path] = (old[path], now[path])
    if recorded.streamed or live.streamed:
        old_kinds, now_kinds = chunk_kinds(recorded), chunk_kinds(live)
        drift.new_chunk_kinds = len(now_kinds - old_kinds)
        drift.missing_chunk_kinds = len(old_kinds - now_kinds)
    return drift


@dataclass
class CassetteDrift:
    """One live cassette against its recording."""

    name: str
    fixture: str | None
    """The fixture spec behind the recording, if it is a fixture and not a real recording."""
    compared: int = 0
    unmatched_live: int = 0
    unmatched_recorded: int = 0
    drifts: list[RequestDrift] = field(default_factory=list)

    def report_lines(self) -> list[str]:
        what = f"示例数据 {self.fixture}" if self.fixture else "录制"
        head = (
            f"{self.name}（对照{what}）：比较了 {self.compared} 个请求，"
            f"{len(self.drifts)} 个形状有变化；录制中没有的新请求 {self.unmatched_live} 个，"
            f"这次没有发出的录制请求 {self.unmatched_recorded} 个"
        )
        lines = [head]
        if self.fixture and self.drifts:
            lines.append(f"  ⚠ 示例数据 {self.fixture} 与真实 API 的响应已不一致，请按下面的字段更新它。")
        for drift in self.drifts:
            lines.append(f"  · {drift.label}")
            lines += [f"      {line}" for line in drift.lines()]
        return lines


def compare_cassettes(
    name: str, recorded: list[Interaction], live: list[Interaction], fixture: str | None
) -> CassetteDrift:
    """Pair live requests with recorded ones of the same key, in order, and compare each pair."""
    waiting: dict[str, list[Interaction]] = defaultdict(list)
    for interaction in recorded:
        waiting[interaction.match_key()].append(interaction)
    result = CassetteDrift(name=name, fixture=fixture)
    for interaction in live:
        queue = waiting.get(interaction.match_key())
        if not queue:
            result.unmatched_live += 1
            continue
        result.compared += 1
        drift = compare(queue.pop(0), interaction)
        if drift.drifted:
            result.drifts.append(drift)
    result.unmatched_recorded = sum(len(queue) for queue in waiting.values())
    return result
