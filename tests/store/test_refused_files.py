"""Files phasegate refuses are left as they were, and a read-only data directory can still be
read: regression tests of the QA findings "another program's database written before it is
refused" and "a read-only data directory blocks even read commands"."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.migrations import READABLE_FROM
from phasegate.engine.store.paths import check_private

from .helpers import new_run

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

PLAN = """\
name: tiny
agents:
  sh:
    capabilities: [any]
phases:
  - id: one
    tasks:
      - id: hello
        run: echo hi
        agent: sh
"""

REFUSAL = "the file is an SQLite database of another program (tables: "


def _state(path: Path) -> tuple[bytes, list[str], list[tuple[str, str]], str]:
    """What a user relies on being unchanged: the bytes, the files beside it (no -wal, -shm or
    -journal left), the schema, the journal mode (read without writing anything)."""
    data = path.read_bytes()
    beside = sorted(p.name for p in path.parent.iterdir())
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return data, beside, schema, journal


def _foreign(path: Path, with_empty_migrations: bool) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE runs (x)")
        conn.execute("INSERT INTO runs VALUES ('theirs')")
        if with_empty_migrations:  # (what the bug itself left behind in such a file)
            conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
            )
        conn.commit()
    path.chmod(0o600)


@pytest.fixture(params=[False, True], ids=["untouched", "with-empty-schema_migrations"])
def foreign_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "data" / "other.db"
    _foreign(path, request.param)
    return path


async def test_another_programs_database_is_refused_before_anything_is_written(
    foreign_db: Path,
) -> None:
    before = _state(foreign_db)
    assert before[3] == "delete"
    with pytest.raises(StoreError) as info:
        await SQLiteStore.open(str(foreign_db))
    assert f"database {foreign_db}: {REFUSAL}runs)" in str(info.value)
    assert "--db" in str(info.value)
    assert _state(foreign_db) == before  # no WAL switch, no table, no file beside it


async def test_another_programs_wal_files_keep_their_modes(tmp_path: Path) -> None:
    """A writer gives our database's read-only side files their mode back (a reader left them
    so), but another program's are left as they are, as the rest of its files."""
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
    with closing(sqlite3.connect(path)) as keep:  # (its side files stay while it is open)
        keep.execute("SELECT * FROM notes").fetchall()
        # (the -shm only: SQLite itself gives an empty -wal the database's mode when any
        # connection opens it)
        shm = tmp_path / "other.db-shm"
        shm.chmod(0o444)
        with pytest.raises(StoreError, match="another program"):
            await SQLiteStore.open(str(path))
        assert oct(shm.stat().st_mode & 0o777) == "0o444"


@pytest.mark.parametrize(
    "args",
    [["runs"], ["show", "last"], ["logs", "last", "hello"], ["report", "last"], ["run"]],
    ids=lambda a: a[0],
)
def test_no_command_writes_into_another_programs_database(
    foreign_db: Path, tmp_path: Path, args: list[str]
) -> None:
    before = _state(foreign_db)
    if args == ["run"]:
        plan = tmp_path / "tiny.yaml"
        plan.write_text(PLAN)
        args = ["run", str(plan), "--headless"]
    done = subprocess.run(
        [PHASEGATE, *args, "--db", str(foreign_db)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr  # (a database that cannot be one: bad usage)
    assert REFUSAL in done.stderr and "Traceback" not in done.stderr
    assert _state(foreign_db) == before


# -- a data directory this user may not write ---------------------------------------------------


def _without_root_powers() -> list[str]:
    """As root, a prefix that drops the power to write through any mode (CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here: {probe.stderr.strip()}")
    return prefix


@pytest.fixture
def read_only_data_dir(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A database with one finished run, its file writable, its directory 0500 (and no WAL
    files beside it, as after a clean close); yields the database, the plan and the run id."""
    db = tmp_path / "data" / "p.db"
    plan = tmp_path / "tiny.yaml"
    plan.write_text(PLAN)
    done = subprocess.run(
        [PHASEGATE, "run", str(plan), "--headless", "-q", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    run_id = next(p.name for p in (db.parent / "runs").iterdir())
    assert sorted(p.name for p in db.parent.iterdir()) == ["p.db", "runs"]
    db.parent.chmod(0o500)
    try:
        yield db, plan, run_id
    finally:
        db.parent.chmod(0o700)


@pytest.mark.parametrize(
    "args",
    [["runs"], ["show", "{run}"], ["logs", "{run}", "hello"], ["report", "{run}"]],
    ids=lambda a: a[0],
)
def test_read_commands_work_in_a_read_only_data_directory(
    read_only_data_dir: tuple[Path, Path, str], args: list[str]
) -> None:
    db, _plan, run_id = read_only_data_dir
    prefix = _without_root_powers()
    before = db.read_bytes()
    done = subprocess.run(
        [*prefix, PHASEGATE, *(a.format(run=run_id) for a in args), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    shown = {"runs": run_id, "show": "tiny", "logs": "hi", "report": "tiny"}[args[0]]
    assert shown in done.stdout, done.stdout
    assert db.read_bytes() == before


def test_a_run_in_a_read_only_data_directory_is_refused_clearly(
    read_only_data_dir: tuple[Path, Path, str],
) -> None:
    db, plan, run_id = read_only_data_dir
    prefix = _without_root_powers()
    done = subprocess.run(
        [*prefix, PHASEGATE, "run", str(plan), "--headless", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr  # (a database that cannot be the run's: usage)
    assert "Traceback" not in done.stderr
    assert f"the database directory {db.parent} is read-only to you" in done.stderr
    assert f"chmod u+w {db.parent}" in done.stderr and "--db" in done.stderr
    assert [p.name for p in (db.parent / "runs").iterdir()] == [run_id]  # nothing of it made


def test_the_engine_refuses_a_database_or_directory_it_cannot_write(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write through any mode; the CLI test above covers it as root")
    db = tmp_path / "data" / "p.db"
    db.parent.mkdir(mode=0o700)
    db.write_bytes(b"")
    db.chmod(0o400)
    with pytest.raises(StoreError, match=r"database file .* is read-only to you"):
        check_private(str(db))
    db.chmod(0o600)
    db.parent.chmod(0o500)
    try:
        with pytest.raises(StoreError, match=r"database directory .* is read-only to you"):
            check_private(str(db))
    finally:
        db.parent.chmod(0o700)


async def test_an_older_database_of_ones_own_in_a_read_only_place_says_how_to_upgrade(
    db_path: Path,
) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
    finally:
        await store.close()
    prefix = _without_root_powers()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        # (older than what this phasegate reads as it is: a migration since added to the schema)
        conn.execute("DELETE FROM schema_migrations WHERE version >= ?", (READABLE_FROM,))
        conn.execute("PRAGMA journal_mode=DELETE")
    db_path.parent.chmod(0o500)
    try:
        done = subprocess.run(
            [*prefix, PHASEGATE, "runs", "--db", str(db_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        db_path.parent.chmod(0o700)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "it cannot be upgraded while it or its directory is read-only" in done.stderr


def test_a_reader_of_a_read_only_database_leaves_no_read_only_side_files(tmp_path: Path) -> None:
    """`chmod 400 p.db`, `runs` (a reader: SQLite makes `-shm` and `-wal` with the database's
    mode, 0400), `chmod 600 p.db`: the next `run` goes on (it failed, "attempt to write a
    readonly database", until the side files were deleted by hand)."""
    prefix = _without_root_powers()
    (tmp_path / "tiny.yaml").write_text(PLAN)
    db = tmp_path / "p.db"

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, PHASEGATE, *args, "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    assert pg("run", "tiny.yaml", "--headless", "-q").returncode == 0
    db.chmod(0o400)
    assert pg("runs").returncode == 0
    left = [p for p in (db.with_name("p.db-shm"), db.with_name("p.db-wal")) if p.exists()]
    db.chmod(0o600)
    again = pg("run", "tiny.yaml", "--headless", "-q")
    assert again.returncode == 0, (left, again.stderr)
    assert pg("runs").stdout.count("tiny") == 2
