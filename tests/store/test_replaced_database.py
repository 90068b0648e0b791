"""Regression: a database file replaced (`mv other.db x.db`) or removed under a running run lost
the whole run, which still ended `succeeded`, exit 0: every event went on into the file the engine
held open, no longer at the path. The store's damage check now also compares the file the path
names with the one it opened (one stat), and the run ends failed, saying where its events went."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import SQLiteStore

from .helpers import new_run, started

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
REPLACED = "was replaced (or removed) while the run went"


def _other_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()


async def test_an_untouched_database_is_no_damage_even_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    monkeypatch.chdir(data)
    store = await SQLiteStore.open("x.db")  # (a relative path: the engine changes directory)
    try:
        await new_run(store, "r1")
        monkeypatch.chdir(tmp_path)
        assert await store.damage() == ""
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["replaced", "removed"])
async def test_a_database_replaced_or_removed_under_the_store_is_damage(
    tmp_path: Path, db_path: Path, how: str
) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        assert await store.damage() == ""
        if how == "replaced":
            _other_database(tmp_path / "other.db")
            os.replace(tmp_path / "other.db", db_path)
        else:
            db_path.unlink()
        found = await store.damage()
        assert f"the database file {db_path} {REPLACED}" in found
        assert f"not at {db_path}" in found
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["replaced", "removed"])
def test_a_run_whose_database_is_replaced_or_removed_ends_failed_saying_so(
    tmp_path: Path, db_path: Path, how: str
) -> None:
    _other_database(tmp_path / "other.db")
    swap = f"mv {tmp_path / 'other.db'} {db_path}" if how == "replaced" else f"rm {db_path}"
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: swapped\nagents: {a: {}}\nphases:\n  - id: p\n    tasks:\n"
        f"      - {{id: swap, run: '{swap}'}}\n"
        "      - {id: after, run: 'echo after', needs: [swap]}\n"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [PHASEGATE, "run", str(plan), "--headless", "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"the database file {db_path} {REPLACED}" in said
    assert "succeeded in" not in said and "Traceback" not in said


async def test_a_first_batch_after_the_database_was_removed_is_refused_and_makes_no_file(
    db_path: Path,
) -> None:
    # (the batch writer opens its own connection to the path at the first batch: it made a new
    # empty database there, and the run's start failed with "no such table: runs")
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        db_path.unlink()
        with pytest.raises(StoreError, match=re.escape(REPLACED)):
            await store.write_batch("r1", [(1, started("r1"))])
        assert not db_path.exists()
    finally:
        await store.close()
