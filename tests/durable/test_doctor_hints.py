"""`phasegate doctor --db PATH` names that database in the commands it suggests: copied as shown,
`phasegate resume RUN` looked in the default database and found no such run."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from phasegate.engine.durable.doctor import diagnose
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow


async def test_an_interrupted_run_s_hint_names_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHASEGATE_DB", str(tmp_path / "default.db"))  # (not the one examined)
    db = tmp_path / "other" / "runs.db"
    db.parent.mkdir(mode=0o700)
    store = await SQLiteStore.open(str(db))
    try:
        row = RunRow("r1", "p", "p.yaml", "running", time.time(), time.time())
        await store.create_run(row)
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:  # (an engine that is gone: pid 1 with another start time)
        conn.execute("UPDATE runs SET engine_pid = 1, engine_started = 0.5 WHERE id = 'r1'")
    [found] = [f for f in diagnose(str(db)) if f.check == "run r1"]
    assert found.level == "warn"
    assert f"`phasegate resume r1 --db {db}` takes it over" in found.detail, found.detail
