"""`phasegate doctor` reports as failures what the store and the engine refuse: another
program's database (also one the refusal bug had written an empty schema_migrations into) and a
data directory others may write; it never ends in a traceback."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.durable.doctor import Finding, check_directory, diagnose
from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import SQLiteStore

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"


def _doctor(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PHASEGATE, "doctor", "--db", str(db)], capture_output=True, text=True, timeout=60
    )


def _by_check(found: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in found}


@pytest.mark.parametrize("empty_migrations", [False, True], ids=["untouched", "empty-migrations"])
async def test_another_programs_database_is_a_failure_worded_as_the_stores_refusal(
    tmp_path: Path, empty_migrations: bool
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "other.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE runs (x)")
        if empty_migrations:
            conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
            )
            conn.execute("PRAGMA journal_mode=WAL")
        conn.commit()
    db.chmod(0o600)
    before = db.read_bytes()
    with pytest.raises(StoreError) as info:
        await SQLiteStore.open(str(db))
    refusal = str(info.value).removeprefix(f"database {db}: ")
    found = _by_check(diagnose(str(db)))
    assert found["database"].level == "fail"
    assert found["database"].detail == f"{db}: {refusal}"
    assert "schema" not in found  # (no "upgraded on next use": the next use refuses it)
    done = _doctor(db)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "FAIL" in done.stdout and "another program (tables: runs)" in done.stdout
    assert db.read_bytes() == before


def test_an_empty_migrations_table_of_a_new_database_is_version_0(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    with closing(sqlite3.connect(db)) as conn:  # (a first open stopped before migration 1)
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
        )
    found = _by_check(diagnose(str(db)))
    assert found["schema"].level == "ok" and found["schema"].detail.startswith("version 0;")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722], ids=["777", "770", "722"])
async def test_a_data_directory_writable_by_others_is_a_failure(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "data"
    db = data / "p.db"
    store = await SQLiteStore.open(str(db))
    await store.close()
    data.chmod(mode)
    try:
        found = _by_check(check_directory(str(db)))["data directory"]
        assert found.level == "fail"
        assert f"{mode:o}: writable by others" in found.detail
        assert f"chmod 700 {data}" in found.detail
        done = _doctor(db)
    finally:
        data.chmod(0o700)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout and "writable by others" in done.stdout


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o1777], ids=["755", "750", "sticky-1777"])
async def test_a_data_directory_others_can_only_read_stays_a_warning(
    tmp_path: Path, mode: int
) -> None:
    data = tmp_path / "data"
    db = data / "p.db"
    store = await SQLiteStore.open(str(db))
    await store.close()
    data.chmod(mode)
    try:
        found = _by_check(check_directory(str(db)))["data directory"]
        done = _doctor(db)
    finally:
        data.chmod(0o700)
    assert found.level == "warn" and "other users can read it" in found.detail
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_database_file_writable_by_others_is_a_failure(tmp_path: Path) -> None:
    db = tmp_path / "data" / "p.db"
    store = await SQLiteStore.open(str(db))
    await store.close()
    db.chmod(0o662)
    found = _by_check(diagnose(str(db)))["database file"]
    assert found.level == "fail" and "662: writable by others" in found.detail
    db.chmod(0o640)  # (a run shared with a group: readable by it, a warning only)
    assert _by_check(diagnose(str(db)))["database file"].level == "warn"
