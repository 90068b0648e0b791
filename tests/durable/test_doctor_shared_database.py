"""Regression: `phasegate doctor` on a database shared with a group (`run --share GROUP`:
directories 2750, database 0640, the group's) warned that other users could read them and
told to `chmod 700` and `chmod 600`, which unshares the run. Access by the group the runs are
shared with is expected; access by anyone else is still a warning, with a fix that keeps the
share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phasegate.engine.durable.doctor import Finding, diagnose
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.paths import run_dir, share

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
GID = os.getegid()  # (a group of ours: one we may share a run with)


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory a group can reach (tmp_path's parents are private: `share` refuses them)."""
    where = Path(tempfile.mkdtemp(prefix="pg-doctor-", dir="/tmp"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where, ignore_errors=True)


async def _shared(place: Path) -> Path:
    """A database with one run shared with our group, as `run --share` leaves it."""
    db = place / "data" / "team.db"
    store = await SQLiteStore.open(str(db))
    try:
        await store.create_run(RunRow("r1", "plan", "plan.yaml", "running", time.time()))
    finally:
        await store.close()
    share(str(db), run_dir(str(db), "r1"), GID)
    return db


def _files(found: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in found if f.check in ("data directory", "database file")}


async def test_a_database_shared_with_a_group_is_no_warning(place: Path) -> None:
    db = await _shared(place)
    assert (db.parent.stat().st_mode & 0o7777, db.stat().st_mode & 0o777) == (0o2750, 0o640)
    found = _files(diagnose(str(db)))
    assert [(f.check, f.level) for f in found.values()] == [
        ("data directory", "ok"),
        ("database file", "ok"),
    ]
    assert "shared with group" in found["data directory"].detail
    done = subprocess.run(
        [PHASEGATE, "doctor", "--db", str(db)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chmod 700" not in done.stdout and "chmod 600" not in done.stdout


async def test_other_users_access_to_a_shared_database_is_still_a_warning(place: Path) -> None:
    db = await _shared(place)
    db.parent.chmod(0o2755)
    db.chmod(0o644)
    found = _files(diagnose(str(db)))
    assert found["data directory"].level == "warn"
    assert found["data directory"].detail.endswith(
        f"outside group {_group()}, which its runs are shared with, can read it; "
        f"`chmod 2750 {db.parent}`"
    )
    assert found["database file"].level == "warn"
    assert found["database file"].detail.endswith(f"`chmod 640 {db}`")


async def test_a_group_that_no_run_is_shared_with_is_still_a_warning(place: Path) -> None:
    db = await _shared(place)
    run_dir(str(db), "r1")  # (made already: unshared below, as a private run's)
    (db.parent / "runs" / "r1").chmod(0o700)
    found = _files(diagnose(str(db)))
    assert found["data directory"].level == "warn"
    assert "other users can read it" in found["data directory"].detail
    assert found["database file"].detail.endswith(f"`chmod 600 {db}`")


def _group() -> str:
    import grp

    return grp.getgrgid(GID).gr_name
