"""What varies between two recordings of the same requests is made deterministic at record time.

The project's server answers the same request with the same text (``--no-cache-prompt``), but
every response also carries values that change on each call: random ids (``chatcmpl-…``,
``resp_…``, tool-call ids, which later requests send back), the clock (``created``,
``created_at``, ``completed_at``) and llama-server's own speed report (``timings``, not part of the OpenAI API).
DESIGN.md section 4: the clock, random numbers and machine speed are made deterministic, so a
second ``make record`` of an unchanged lesson leaves its cassette and notebook byte-identical.

- each random id becomes an id of the same shape derived from the cassette's name and the order
  in which the id first appeared; the same substitution is applied to later requests, so the
  ``tool_call_id`` or ``previous_response_id`` a lesson sends back still matches on replay;
- ``created`` / ``created_at`` / ``completed_at`` become the recording day's 00:00 UTC (the same value
  ``Session.now()`` gives a lesson while recording);
- ``timings`` is removed: it is the recording machine's speed, and no stored output may depend on it.

Everything else in a body stays byte for byte what the server sent. Text substitution, not a JSON
round trip, so number formatting and key order are untouched.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from vcr.request import Request

RANDOM_ID = re.compile(
    r'"(?:id|call_id|item_id|response_id|previous_response_id|tool_call_id)"\s*:\s*'
    r'"((?:chatcmpl-|cmpl-|resp_|msg_|fc_|call_|rs_)?([A-Za-z0-9]{32}))"'
)
CLOCK = re.compile(r'("(?:created|created_at|completed_at)"\s*:\s*)(\d{9,11})\b')
TIMINGS = re.compile(r',\s*"timings"\s*:\s*\{[^{}]*\}|"timings"\s*:\s*\{[^{}]*\}\s*,?')
ALPHABET = string.ascii_letters + string.digits


def recording_day(now: datetime | None = None) -> datetime:
    """00:00 UTC of the day the recording is made: the recording's clock."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


class StableValues:
    """The substitutions for one cassette; ``request`` and ``response`` are vcrpy's record hooks."""

    def __init__(self, cassette_name: str, day: datetime | None = None) -> None:
        self.cassette_name = cassette_name
        self.epoch = str(int(recording_day(day).timestamp()))
        self.ids: dict[str, str] = {}

    def _stable(self, random_part: str) -> str:
        digest = hashlib.sha256(f"{self.cassette_name}#{len(self.ids)}".encode()).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(len(random_part)):
            number, index = divmod(number, len(ALPHABET))
            chars.append(ALPHABET[index])
        return "".join(chars)

    def text(self, body: str, learn: bool) -> str:
        """Substitute in ``body``; ids are learnt from responses only (a request only sends back
        ids it was given, and vcrpy may pass the same request through its hook twice)."""
        for match in RANDOM_ID.finditer(body) if learn else ():
            random_part = match.group(2)
            if random_part not in self.ids:
                self.ids[random_part] = self._stable(random_part)
        for random_part, stable in self.ids.items():
            body = body.replace(random_part, stable)
        body = CLOCK.sub(lambda found: found.group(1) + self.epoch, body)
        return TIMINGS.sub("", body)

    def _body(self, body: Any, learn: bool) -> Any:
        if isinstance(body, bytes | bytearray) and body:
            try:
                return self.text(bytes(body).decode("utf-8"), learn).encode("utf-8")
            except UnicodeDecodeError:
                return body
        if isinstance(body, str) and body:
            return self.text(body, learn)
        return body

    def request(self, request: Request) -> Request:
        request.body = self._body(request.body, learn=False)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        response["body"]["string"] = self._body(response["body"].get("string"), learn=True)
        return response


def chain(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """vcrpy hook: ``second`` after ``first``; a request ``first`` drops (None) stays dropped."""

    def both(item: Any) -> Any:
        item = first(item)
        return None if item is None else second(item)

    return both
