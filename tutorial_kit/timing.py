"""Timings that replay can show honestly: what was measured live when the lesson was recorded.

Replay has nothing to time: a recorded stream is read from a file all at once. While ``make
record`` runs a lesson live, ``recorded_timing`` stores the values the lesson measured in the
cassette (beside the recording's clock, see ``Session.now``); replay returns those values and says
when they were measured. So the numbers and the plot a learner sees in replay are a real
measurement, and Run All in replay prints exactly what the stored notebook shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from vcr.errors import MissingMetadataError

from .machinery.modes import Mode

if TYPE_CHECKING:
    from .session import Session

METADATA_PREFIX = "timing:"
"""Cassette metadata key of a stored timing: ``timing:<name>``."""
MAX_VALUES = 10_000
DIGITS = 4
"""Seconds are stored to 0.1 ms: finer than any network timing means anything."""

LIVE_NOTE = "实时测得：每次运行都不同。"
RECORDING_NOTE = "正在录制：这些实时测得的数值会存进录制文件，回放时显示的就是它们。"
NO_TIMING_NOTE = (
    "回放没有计时：录制文件里的数据是一次性读出来的，而这份录制没有存下录制时的计时。"
    "要亲自测量，请实时运行（见第 00 课：启动本地服务器、连接教室的服务器或填写密钥）。"
)


@dataclass(frozen=True)
class Timing:
    values: list[float] | None
    """Seconds as measured: just now (live) or while the lesson was recorded (replay). None when
    replaying a recording that stored no timing."""
    note: str
    """One Chinese line saying where the values come from."""


def replay_note(measured_on: str) -> str:
    return f"回放：录制文件里的数据是一次性读出来的，无法计时；这里是 {measured_on} 录制时实时测得的数值。"


def is_stored_timing(value: Any) -> bool:
    """The shape ``recorded_timing`` stores; anything else in a cassette is refused when it is read."""
    return (
        isinstance(value, dict)
        and set(value) == {"values", "measured_on"}
        and isinstance(value["measured_on"], str)
        and len(value["measured_on"]) <= 32
        and isinstance(value["values"], list)
        and len(value["values"]) <= MAX_VALUES
        and all(isinstance(number, int | float) and not isinstance(number, bool) for number in value["values"])
    )


def recorded_timing(session: Session, name: str, values: Sequence[float]) -> Timing:
    """Live: ``values`` as they are. Recording: ``values``, also stored in the cassette under ``name``.
    Replay: the values stored when the lesson was recorded (``values``, measured on the replay, are
    ignored: they only say how fast a file was read), or ``Timing(None, ...)`` if none were stored."""
    cassette = session.cassette
    if cassette is None:
        return Timing(list(values), LIVE_NOTE)
    key = METADATA_PREFIX + name
    if session.mode is Mode.RECORD:
        measured = {
            "values": [round(float(value), DIGITS) for value in values],
            "measured_on": datetime.now(timezone.utc).date().isoformat(),
        }
        stored = cassette.get_metadata(key, measured)
        return Timing(list(stored["values"]), RECORDING_NOTE)
    if not cassette.write_protected:  # building a fixture: nothing was measured
        return Timing(None, NO_TIMING_NOTE)
    try:
        stored = cassette.get_metadata(key, None)
    except MissingMetadataError:
        return Timing(None, NO_TIMING_NOTE)
    if not is_stored_timing(stored):
        return Timing(None, NO_TIMING_NOTE)
    return Timing([float(value) for value in stored["values"]], replay_note(stored["measured_on"]))
