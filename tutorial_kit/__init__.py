"""The small kit behind the tutorial notebooks: providers, sessions, recordings."""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use, so `python -m tutorial_kit` runs before the SDKs are installed.
_EXPORTS = {
    "CassetteMissError": ".errors",
    "KitError": ".errors",
    "Session": ".session",
    "finish_recording": ".session",
    "start_session": ".session",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
