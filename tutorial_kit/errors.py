"""Errors the kit raises, shown as one clear line in Jupyter instead of a traceback."""

from __future__ import annotations


class _OneLine:
    """IPython calls ``_render_traceback_`` when present; we return only our message."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}: {self}\x1b[0m"]


class KitError(_OneLine, Exception):
    """Set-up problem the learner can fix (unknown provider, missing key, server down)."""


class CassetteMissError(_OneLine, BaseException):
    """A request that the cassette does not hold, in replay mode.

    Derived from BaseException on purpose: SDKs such as zhipuai retry on any
    ``Exception`` and would hide this message behind retries and a
    "connection error"; this must stop the cell at once.
    """
