"""Whether a time a lesson measures means anything in this session, and the line to print if not.

Only a live session can time a stream. Replay reads a recorded stream from a file all at once.
Recording cannot time it either: vcrpy reads each response whole before the lesson sees its first
chunk (so the first chunk "arrives" when the last one was generated). A lesson therefore prints
its timings only when ``no_timing_reason`` is None, and prints the reason otherwise: the stored
output then says plainly that replay has no timing, and Run All in replay prints exactly that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .machinery.modes import Mode

if TYPE_CHECKING:
    from .session import Session

REPLAY_REASON = (
    "回放没有计时：录制的流式回答是从文件里一次性读出来的，测出的只是读文件的速度。"
    "实时运行（见第 00 课：本地服务器、教室的服务器或自己的密钥）才能看到真实的首 token 延迟和生成速度。"
)
RECORD_REASON = "录制时也没有计时：录制工具要先收完整个回答才交给代码，所有块看起来同时到达。"


def no_timing_reason(session: Session) -> str | None:
    """None when the session is live (a timing measures the real server); else one Chinese line."""
    if session.cassette is None:
        return None
    return RECORD_REASON if session.mode is Mode.RECORD else REPLAY_REASON
