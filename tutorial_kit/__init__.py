"""The small kit behind the tutorial notebooks: providers, sessions, recordings."""

from .errors import CassetteMissError, KitError
from .session import Session, finish_recording, start_session

__all__ = ["CassetteMissError", "KitError", "Session", "finish_recording", "start_session"]
