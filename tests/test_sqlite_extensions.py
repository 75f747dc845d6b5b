"""Lesson 14's vector index: sqlite-vec loads into the kit's sqlite3 and an index survives reopening."""

from __future__ import annotations

import sqlite3 as standard
from pathlib import Path

import numpy as np
import sqlite_vec

from tutorial_kit.sqlite_extensions import sqlite3


def open_index(path: Path) -> standard.Connection:
    db = sqlite3.connect(path)
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    return db


def test_the_module_can_load_extensions() -> None:
    assert hasattr(sqlite3.Connection, "enable_load_extension")
    if not hasattr(standard.Connection, "enable_load_extension"):
        assert sqlite3.__name__ == "sqlean"


def test_a_vector_index_answers_nearest_first_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]], dtype=np.float32)
    db = open_index(path)
    db.execute("create virtual table items using vec0(embedding float[3] distance_metric=cosine, +name text)")
    with db:
        db.executemany(
            "insert into items(rowid, embedding, name) values (?, ?, ?)",
            [(index + 1, vector.tobytes(), f"v{index}") for index, vector in enumerate(vectors)],
        )
    db.close()
    reopened = open_index(path)
    query = np.array([1, 0, 0], dtype=np.float32).tobytes()
    rows = reopened.execute(
        "select name, distance from items where embedding match ? and k = 2 order by distance", (query,)
    ).fetchall()
    assert [name for name, _ in rows] == ["v0", "v2"]
    assert rows[0][1] < 1e-6 < rows[1][1]
