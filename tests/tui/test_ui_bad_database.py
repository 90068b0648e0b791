"""`phasegate ui --db BAD` says what is wrong with the database in one line, and exits as `runs`
does on it, before the dashboard takes the terminal.

Regression: the run browser opened the database itself, uncaught: a full traceback ending
`StoreError: database ...: database disk image is malformed`, and exit 0."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from phasegate.tui import launch

from .conftest import Run


def _text(tmp_path: Path, db: str) -> str:
    path = tmp_path / "notes.db"
    path.write_text("hello\n")
    return str(path)


def _foreign(tmp_path: Path, db: str) -> str:
    path = str(tmp_path / "other.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE x (a)")
    return path


def _truncated(tmp_path: Path, db: str) -> str:
    """A real phasegate database, cut in half (a bad copy, a full disk)."""
    os.truncate(db, os.path.getsize(db) // 2)
    return db


@pytest.mark.parametrize("bad", [_text, _foreign, _truncated])
def test_ui_on_a_bad_database_says_so_in_one_line_and_exits_as_runs_does(
    bad: object,
    tmp_path: Path,
    finished_run: tuple[str, str],
    pg: Run,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = bad(tmp_path, finished_run[0])  # type: ignore[operator]
    opened: list[str] = []
    monkeypatch.setattr(launch, "_app", lambda db, run, color: opened.append(db))
    code = launch.browse(path, "never")
    said = capsys.readouterr().err
    runs = pg("runs", "--db", path)
    assert runs.returncode != 0, runs.stdout  # (it is a bad database)
    assert opened == []  # the dashboard never started on it
    assert code == runs.returncode
    assert said.strip() == runs.stderr.strip()
    assert said.startswith(f"phasegate: database {path}") and said.count("\n") == 1
