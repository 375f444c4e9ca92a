"""Hostile results databases given with ``--db``: a directory, a file as its parent, not SQLite,
from a newer devbench, read-only. Each is one line and exit 2, and the file is left as it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest


def _make(tmp_path: Path, case: str) -> Path:
    db = tmp_path / "results.sqlite"
    if case == "a directory":
        db.mkdir()
    elif case == "parent is a file":
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "results.sqlite"
    elif case == "not SQLite":
        db.write_bytes(b"this is not a database, it is a text file\n" * 100)
    elif case == "newer schema":
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 999")
        conn.close()
    elif case == "read-only":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (x)")
        conn.close()
        db.chmod(0o444)
        tmp_path.chmod(0o555)
    return db


CASES = ["a directory", "parent is a file", "not SQLite", "newer schema",
         pytest.param("read-only", marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files"))]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("verb", [["report"], ["plot", "--out", "x.png"]])
def test_hostile_database(devbench, tmp_path: Path, case: str, verb: list[str]) -> None:
    db = _make(tmp_path, case)
    try:
        devbench(*verb, "--db", db).assert_one_line_error(str(db))
    finally:
        tmp_path.chmod(0o755)


@pytest.mark.parametrize("case", CASES)
def test_hostile_database_is_left_as_it_was(devbench, tmp_path: Path, case: str) -> None:
    db = _make(tmp_path, case)
    before = db.read_bytes() if db.is_file() else None
    try:
        devbench("report", "--db", db)
    finally:
        tmp_path.chmod(0o755)
    assert (db.read_bytes() if db.is_file() else None) == before
