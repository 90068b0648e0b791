"""Schema migrations: every old version upgrades with its data, atomically; strangers refused."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import StoreError
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.migrations import LATEST, MIGRATIONS, current_version, migrate

from .helpers import T0, started

EVENTS: list[ev.Event] = [
    started("old1"),
    ev.TaskReady(T0 + 1, "a"),
    ev.from_record("gate.future", T0 + 2, 4, {"gate": "g"}),  # from a newer phasegate
    ev.TaskStarted(T0 + 3, "a", 1, "a1", 321, 321, "make"),
]


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _versions(path: Path) -> list[int]:
    with closing(_connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def _seed(conn: sqlite3.Connection, version: int) -> dict[str, list[int]]:
    """Write what a phasegate at `version` would have written; returns the rowids of the rows."""
    rowids: dict[str, list[int]] = {"events": [], "output": []}
    if version < 1:
        return rowids
    conn.execute(
        "INSERT INTO runs (id, plan_name, plan_path, status, created_at, started_at, counts, "
        "user, host) VALUES ('old1', 'plan', 'plans/plan.yaml', 'running', ?, ?, ?, 'al', 'h')",
        (T0, T0 + 0.5, json.dumps({"running": 1, "pending": 1})),
    )
    conn.execute(
        "INSERT INTO runs (id, plan_name, plan_path, status, created_at) "
        "VALUES ('old2', 'plan2', 'p2.yaml', 'succeeded', ?)",
        (T0 - 100,),
    )
    for seq, e in enumerate(EVENTS, 1):
        name, v, data = e.record()
        for run_id in ("old1", "old2"):  # interleaved, so the cursors of one run have gaps
            cur = conn.execute(
                "INSERT INTO events (run_id, seq, type, ts, v, data) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, seq, name, e.ts, v, data),
            )
            if run_id == "old1":
                rowids["events"].append(int(cur.lastrowid or 0))
    if version >= 2:
        conn.execute("UPDATE runs SET engine_pid = 999, engine_started = 5.0 WHERE id = 'old1'")
        conn.execute(
            "INSERT INTO commands (run_id, kind, args, author, created_at, claimed_at) "
            "VALUES ('old1', 'pause', '{}', 'al', ?, ?)",
            (T0, T0 + 1),
        )
        conn.execute(
            "INSERT INTO commands (run_id, kind, args, author, created_at) "
            "VALUES ('old1', 'retry', '{\"task\": \"a\"}', 'al', ?)",
            (T0 + 2,),
        )
    if version >= 3:
        for n in (1, 2, 3):
            cur = conn.execute(
                "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
                "VALUES ('old1', 'a', 1, ?, 'out', ?, ?)",
                (n, f"line {n} \u2713", T0 + n),
            )
            rowids["output"].append(int(cur.lastrowid or 0))
        conn.execute("DELETE FROM output WHERE line = 1")  # a drop that kept the tail
        rowids["output"] = rowids["output"][1:]
    return rowids


@pytest.mark.parametrize("version", range(LATEST))
async def test_every_older_schema_upgrades_to_the_latest_with_its_data(
    db_path: Path, version: int
) -> None:
    db_path.parent.mkdir()
    with closing(_connect(db_path)) as conn:
        assert migrate(conn, target=version) == list(range(1, version + 1))
        rowids = _seed(conn, version)

    store = await SQLiteStore.open(str(db_path))
    try:
        assert _versions(db_path) == list(range(1, LATEST + 1))
        if version >= 1:
            row = await store.get_run("old1")
            assert row is not None
            assert (row.plan_name, row.status, row.started_at, row.user, row.host) == (
                "plan",
                "running",
                T0 + 0.5,
                "al",
                "h",
            )
            assert row.counts == {"running": 1, "pending": 1}
            assert await store.run_ids() == ["old1", "old2"]
            assert [e for _, e in await store.read_events("old1")] == EVENTS
            # a client's cursor from before the upgrade still points at the same event
            tail = [(c, seq) for c, run, seq, _ in await store.tail(0) if run == "old1"]
            assert tail == list(zip(rowids["events"], range(1, len(EVENTS) + 1), strict=True))
        if version >= 2:
            row = await store.get_run("old1")
            assert row is not None and (row.engine_pid, row.engine_started) == (999, 5.0)
        if version >= 3:
            out = await store.tail_output("old1", 0)
            assert [c for c, _ in out] == rowids["output"]
            assert [o.text for _, o in out] == ["line 2 \u2713", "line 3 \u2713"]

        # and the upgraded database takes new writes
        await store.create_run(RunRow("new1", "p", "p.yaml", "pending", T0 + 50))
        await store.write_batch("new1", [(1, started("new1"))])
        assert [e for _, e in await store.read_events("new1")] == [started("new1")]
        last = (await store.tail(0))[-1]
        assert last[1] == "new1" and all(last[0] > c for c in rowids["events"])
    finally:
        await store.close()


async def test_an_up_to_date_database_is_left_alone(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    await store.close()
    with closing(_connect(db_path)) as conn:
        assert migrate(conn) == []
    assert _versions(db_path) == list(range(1, LATEST + 1))


def test_a_failing_migration_leaves_nothing_of_itself(db_path: Path) -> None:
    db_path.parent.mkdir()
    broken = {
        **MIGRATIONS,
        LATEST + 1: [
            "CREATE TABLE extra (a INTEGER)",
            "ALTER TABLE runs ADD COLUMN colour TEXT",
            "INSERT INTO runs (id) VALUES (NULL)",  # NOT NULL constraint failed
        ],
    }
    with closing(_connect(db_path)) as conn:
        migrate(conn)
        with pytest.raises(sqlite3.IntegrityError):
            migrate(conn, migrations=broken)
        assert current_version(conn) == LATEST
        assert not conn.in_transaction
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables
        assert "colour" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}


def test_a_new_database_gets_its_schema_whole_or_not_at_all(db_path: Path) -> None:
    # A new database takes every migration in one transaction (one commit instead of nine, at
    # a first run's start): a failure in the last one leaves none of the others behind.
    db_path.parent.mkdir()
    broken = {**MIGRATIONS, LATEST + 1: ["INSERT INTO runs (id) VALUES (NULL)"]}
    with closing(_connect(db_path)) as conn:
        with pytest.raises(sqlite3.IntegrityError):
            migrate(conn, migrations=broken)
        assert not conn.in_transaction
        assert current_version(conn) == 0
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == []
        assert migrate(conn) == list(range(1, LATEST + 1))
    assert _versions(db_path) == list(range(1, LATEST + 1))


def test_a_new_database_another_opener_started_is_brought_all_the_way(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process (an older phasegate, or one taking a migration per transaction) commits
    # the first migrations between this opener's look at the version and its transaction: the
    # rest are still applied, not taken as done.
    from phasegate.engine.store import migrations

    db_path.parent.mkdir()
    real = migrations._apply

    def meanwhile(
        conn: sqlite3.Connection, numbers: list[int], steps: dict[int, list[str]]
    ) -> list[int]:
        with closing(_connect(db_path)) as other:
            for n in (1, 2, 3):
                real(other, [n], steps)
        return real(conn, numbers, steps)

    monkeypatch.setattr(migrations, "_apply", meanwhile)
    with closing(_connect(db_path)) as conn:
        assert migrate(conn) == list(range(4, LATEST + 1))
        assert current_version(conn) == LATEST
    assert _versions(db_path) == list(range(1, LATEST + 1))


def test_the_version_is_recorded_in_the_migrations_own_transaction(db_path: Path) -> None:
    # The version row is the last statement of the migration's transaction: if recording it
    # fails, the migration's changes go with it (were it recorded apart, they would stay).
    db_path.parent.mkdir()
    clash = {
        **MIGRATIONS,
        LATEST + 1: [
            "CREATE TABLE extra (a INTEGER)",
            # takes the version number, so the recording insert that follows fails
            f"INSERT INTO schema_migrations (version, applied_at) VALUES ({LATEST + 1}, 0)",
        ],
    }
    with closing(_connect(db_path)) as conn:
        migrate(conn)
        with pytest.raises(sqlite3.IntegrityError):
            migrate(conn, migrations=clash)
        assert current_version(conn) == LATEST
        assert "extra" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        # and a good next migration applies and is recorded once
        good = {**MIGRATIONS, LATEST + 1: ["CREATE TABLE extra (a INTEGER)"]}
        assert migrate(conn, migrations=good) == [LATEST + 1]
    assert _versions(db_path) == list(range(1, LATEST + 2))


async def test_opening_a_new_database_waits_for_another_writer(db_path: Path) -> None:
    # regression: switching a new file to WAL needs an exclusive lock, and while another
    # connection holds the write lock SQLite says "database is locked" at once, ignoring the
    # busy timeout; so two processes opening a new database together (the engine and a front
    # end, on first use) failed now and then
    db_path.parent.mkdir()
    db_path.touch()
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    # opening blocks this thread (sqlite3 is synchronous there): release from another one
    release = threading.Timer(0.2, other.execute, ("ROLLBACK",))
    try:
        other.execute("BEGIN IMMEDIATE")
        release.start()
        store = await SQLiteStore.open(str(db_path))
        await store.close()
    finally:
        release.cancel()
        if release.ident is not None:
            release.join()
        other.close()
    assert _versions(db_path) == list(range(1, LATEST + 1))


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    for attempt in range(15):
        path = tmp_path / f"try{attempt}" / "phasegate.db"
        errors = _open_together(path, 3)
        assert errors == [], f"attempt {attempt}: {errors}"
        assert _versions(path) == list(range(1, LATEST + 1))


def _open_together(path: Path, n: int) -> list[BaseException]:
    """Open the store from `n` threads released at once, as `n` processes would."""
    barrier = threading.Barrier(n, timeout=30)
    errors: list[BaseException] = []

    async def open_and_read() -> None:
        barrier.wait()  # here, with every event loop running: the opens start together
        store = await SQLiteStore.open(str(path))
        try:
            await store.run_ids()
        finally:
            await store.close()

    def opener() -> None:
        try:
            asyncio.run(open_and_read())
        except BaseException as exc:  # reported by the caller, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


# -- files that are not ours ------------------------------------------------------------------


async def test_a_database_newer_than_the_code_is_refused_clearly(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    await store.close()
    with closing(_connect(db_path)) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (LATEST + 7,))
    with pytest.raises(StoreError) as info:
        await SQLiteStore.open(str(db_path))
    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {LATEST + 7}" in message and "upgrade phasegate" in message
    assert _versions(db_path)[-1] == LATEST + 7


@pytest.mark.parametrize(
    "content",
    [b"SQLite format 2\x00" + bytes(range(256)) * 20, b"hello, I am a text file\n"],
    ids=["binary", "text"],
)
async def test_a_file_that_is_not_a_database_is_refused_and_left_alone(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        await SQLiteStore.open(str(path))
    assert "not a database" in str(info.value) and "--db" in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


async def test_another_programs_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(_connect(path)) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
    with pytest.raises(StoreError, match=r"another program .*contacts.* --db"):
        await SQLiteStore.open(str(path))
    with closing(_connect(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "runs" not in tables and "contacts" in tables


async def test_a_directory_in_place_of_the_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unable to open database file"):
        await SQLiteStore.open(str(tmp_path))


# -- permissions ------------------------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_the_data_dir_is_0700_and_the_database_0600(tmp_path: Path, mask: int) -> None:
    db = tmp_path / "share" / "phasegate" / "phasegate.db"
    with _umask(mask):
        store = await SQLiteStore.open(str(db))
        try:
            await store.create_run(RunRow("r1", "p", "p.yaml", "pending", T0))
            assert _mode(db.parent) == 0o700
            assert _mode(db) == 0o600
            # SQLite gives its WAL and shared-memory files the database's mode
            for side in ("-wal", "-shm"):
                side_file = db.with_name(db.name + side)
                assert _mode(side_file) == 0o600, side
        finally:
            await store.close()
