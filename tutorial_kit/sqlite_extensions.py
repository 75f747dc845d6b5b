"""A ``sqlite3`` module that can load SQLite extensions such as sqlite-vec (lesson 14).

Python built from source without ``--enable-loadable-sqlite-extensions`` (pyenv's builds, for
example) has a ``sqlite3`` whose connections lack ``enable_load_extension``. sqlean.py offers the
same DB-API with extension loading, so a lesson can call ``sqlite3.connect`` either way.
"""

from __future__ import annotations

import sqlite3 as _standard
from types import ModuleType

from .errors import KitError


def _choose() -> ModuleType:
    if hasattr(_standard.Connection, "enable_load_extension"):
        return _standard
    try:
        import sqlean
    except ImportError as error:
        raise KitError(
            "这个 Python 的 sqlite3 不能加载扩展，也没有装 sqlean-py：请运行 make lab（会按 requirements.txt 安装）。"
        ) from error
    return sqlean


sqlite3 = _choose()
"""The standard library's ``sqlite3`` when it can load extensions, otherwise ``sqlean``."""
