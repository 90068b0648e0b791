"""The SQLite store (aiosqlite, WAL): one database per data directory holds every run.

SQLiteStore opens the database, holds its one connection and the lock around it, writes runs
and keeps their leases, plans and snapshots. Its base classes hold the rest: the reads of a run's
rows, events and output (engine/store/sqlite_reads.py) and the history across runs, durations
and knowledge (engine/store/sqlite_history.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiosqlite

from phasegate.engine.model.errors import EngineBusy, StoreBusy, StoreError
from phasegate.engine.model.events import Event
from phasegate.engine.store.base import (
    Liveness,
    OutputDrop,
    OutputLine,
    RunRow,
    check_summary,
)
from phasegate.engine.store.batch import Batch, BatchWriter, Busy
from phasegate.engine.store.migrations import check_not_foreign, migrate
from phasegate.engine.store.opening import (
    BUSY_TIMEOUT_MS,
    default_db_path,
    enable_wal,
    open_read_only,
    prepare_path,
    store_error,
    writable,
    writable_sides,
)
from phasegate.engine.store.paths import file_id
from phasegate.engine.store.sqlite_history import SQLiteHistory
from phasegate.engine.store.sqlite_reads import RUN_COLUMNS, SQLiteReads


class SQLiteStore(SQLiteReads, SQLiteHistory):
    """Store backed by one SQLite file in WAL mode."""

    def __init__(
        self, path: str, conn: aiosqlite.Connection, target: str | None = None, uri: bool = False
    ) -> None:
        self.path = path
        self._conn = conn
        self._target, self._uri = target or path, uri  # (what the batch writer connects to)
        self._batch: BatchWriter | None = None
        # One connection serves every coroutine of the process (the sink, the command poll,
        # a front end's tail). Without this lock a second coroutine's BEGIN would fail inside the
        # first one's transaction, or its statements would join that transaction, and a read
        # could see rows of a batch that is then rolled back.
        self._lock = asyncio.Lock()
        # the file opened, as (device, inode): a path that names another file later (replaced
        # by `mv`, removed) is damage, since every write goes on into the file held open
        self._where = os.path.abspath(path)  # (the engine changes directory to the plan's)
        self._file = file_id(self._where) if path != ":memory:" else None

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        """Open (creating and migrating if needed) the database at `path`; StoreError if not.
        Another user's database shared with this one (readable, not writable), or one in a
        directory this user may not write, opens read-only: it can be read, and a write is
        refused. Another program's SQLite database is refused before anything is written to it.
        """
        if path != ":memory:" and os.path.isfile(path) and not writable(path):
            reader, target = await open_read_only(path)
            return cls(path, reader, target, uri=True)  # (its batch writer reads as it does)
        prepare_path(path)
        target, uri = path, False
        if path == ":memory:":
            # a private in-memory database shared by the migrating and the serving connection;
            # a plain ":memory:" would give each connection its own empty database
            target, uri = f"file:phasegate-{os.urandom(8).hex()}?mode=memory&cache=shared", True
        conn: aiosqlite.Connection | None = None
        try:
            sync = sqlite3.connect(
                target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri
            )
            try:
                # before the WAL switch and the migrations: a file that is refused is left as
                # it was (this only reads)
                check_not_foreign(sync)
                if not uri and writable_sides(path):  # (ours: a reader's read-only -shm)
                    sync.close()
                    sync = sqlite3.connect(
                        target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri
                    )
                # as the serving connection below: in WAL mode a commit then writes the log
                # without an fsync, so a new database's nine migrations do not wait for nine of
                # them (a crash can lose only the last commits, never the file's consistency,
                # and a migration lost so is applied again at the next open)
                sync.execute("PRAGMA synchronous=NORMAL")
                if not uri:
                    enable_wal(sync, path)
                migrate(sync)
                conn = await aiosqlite.connect(
                    target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri
                )
                await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                await conn.execute("PRAGMA synchronous=NORMAL")
                # a first read, so that the serving connection holds the file when the migrating
                # one closes: that one is then not the last, and does not checkpoint the log
                # into the file (an fsync) only for the run's first writes to fill it again
                await conn.execute_fetchall("SELECT MAX(version) FROM schema_migrations")
            finally:
                sync.close()
        except sqlite3.Error as exc:
            if conn is not None:
                await conn.close()
            raise store_error(path, exc) from None
        except StoreError as exc:
            if conn is not None:
                await conn.close()
            message = str(exc)
            if not message.startswith("database "):
                message = f"database {path}: {message}"
            raise type(exc)(message) from None  # (its kind says the exit code)
        return cls(path, conn, target, uri)

    def _replaced(self) -> str:
        """Why the path no longer names the file opened (replaced by `mv`, removed), or ""."""
        if self._file is None or file_id(self._where) == self._file:  # (one stat)
            return ""
        return (
            f"the database file {self.path} was replaced (or removed) while the run went; "
            f"its events are in the file the engine still holds open, not at {self.path}"
        )

    async def damage(self) -> str:
        replaced = self._replaced()
        if replaced:
            return replaced
        try:
            async with self._lock:
                rows = await self._conn.execute_fetchall("PRAGMA quick_check(3)")
        except sqlite3.DatabaseError as exc:
            return str(exc)
        lines = [x for r in rows for x in str(r[0]).splitlines() if not x.startswith("***")]
        found = "; ".join(lines)
        if found == "ok":
            return ""
        return (
            f"{found[:160]}; what it holds of the run may be lost: keep a copy of {self.path} "
            "and try `sqlite3 FILE .recover`"
        )

    async def close(self) -> None:
        async with self._lock:  # (a batch still waiting in its thread for a lock ends first)
            if self._batch is not None:
                self._batch.close()
                self._batch = None
        await self._conn.close()

    async def pragmas(self) -> dict[str, Any]:
        """The connection's journal mode, busy timeout (ms) and synchronous level, as set."""
        out: dict[str, Any] = {}
        for name in ("journal_mode", "busy_timeout", "synchronous"):
            rows = await self._query(f"PRAGMA {name}")
            out[name] = rows[0][0]
        return out

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The one transaction helper: BEGIN IMMEDIATE, COMMIT, or ROLLBACK on any error.

        It holds the store's lock: inside, use the connection it yields, never another method of
        the store (which would wait for the lock forever).
        """
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None
            except BaseException:  # cancelled: the BEGIN itself still runs in aiosqlite's thread
                await self._rollback()
                raise
            try:
                yield self._conn
                await self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback()
                raise store_error(self.path, exc) from None
            except BaseException:
                await self._rollback()
                raise

    async def _rollback(self) -> None:
        """Undo the transaction, whatever state its statements are in. A statement whose caller
        was cancelled still runs in aiosqlite's thread (a BEGIN not yet run, a COMMIT under way);
        the ROLLBACK is queued after it, so no transaction is ever left open on the connection
        (the next BEGIN would fail with "cannot start a transaction within a transaction")."""
        with suppress(sqlite3.Error):  # (no transaction left to undo)
            await asyncio.shield(self._conn.execute("ROLLBACK"))

    async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            try:
                async with self._conn.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

    async def create_run(self, row: RunRow) -> None:
        async with self.transaction() as db:
            await db.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                (
                    row.id,
                    row.plan_name,
                    row.plan_path,
                    row.status,
                    row.created_at,
                    row.started_at,
                    row.finished_at,
                    json.dumps(row.counts),
                    row.user,
                    row.host,
                    row.engine_pid,
                    row.engine_started,
                    row.heartbeat_at,
                ),
            )

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        if summary:
            check_summary(summary)
        records = [(seq, *e.record(), e.ts) for seq, e in events]  # (before the transaction)
        async with self._lock:  # (no other coroutine uses the database until the batch is in)
            try:
                if self._batch is None:
                    # (its own connection, to the path: never to another file now there, nor
                    # to a new empty one made where the database was removed)
                    replaced = self._replaced()
                    if replaced:
                        raise StoreError(replaced)
                    self._batch = BatchWriter(self._target, self._uri)
                batch = Batch(run_id, records, output, drops, summary)
                await self._batch.put(batch, BUSY_TIMEOUT_MS)
            except Busy as exc:
                raise StoreBusy(
                    f"database {self.path}: {exc}; another process holds its lock"
                ) from None
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

    @staticmethod
    async def _require_run(db: aiosqlite.Connection, run_id: str) -> None:
        # the same refusal as the memory store (foreign keys are off: they would cost a
        # lookup per row on the hottest path)
        # (one round trip to the connection's thread: execute_fetchall, not execute + fetchone)
        if not await db.execute_fetchall("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise StoreError(f"run {run_id} does not exist")

    async def acquire_lease(
        self, run_id: str, pid: int, started: float, now: float, alive: Liveness
    ) -> None:
        async with self.transaction() as db:
            async with db.execute(
                "SELECT engine_pid, engine_started FROM runs WHERE id = ?", (run_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise StoreError(f"run {run_id} does not exist")
            other_pid, other_started = row
            if other_pid and other_pid != pid and alive(other_pid, other_started or 0.0):
                raise EngineBusy(
                    f"run {run_id} already has a live engine (pid {other_pid}); "
                    "attach to it instead, or stop that engine first"
                )
            await db.execute(
                "UPDATE runs SET engine_pid = ?, engine_started = ?, heartbeat_at = ? WHERE id = ?",
                (pid, started, now, run_id),
            )

    async def release_lease(self, run_id: str, pid: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE runs SET engine_pid = NULL WHERE id = ? AND engine_pid = ?", (run_id, pid)
            )

    async def save_plan(self, run_id: str, text: str, variables: dict[str, str]) -> None:
        async with self.transaction() as db:
            await self._require_run(db, run_id)
            await db.execute(
                "INSERT OR REPLACE INTO run_plans (run_id, text, vars) VALUES (?, ?, ?)",
                (run_id, text, json.dumps(variables)),
            )

    async def load_plan(self, run_id: str) -> tuple[str, dict[str, str]] | None:
        rows = await self._query("SELECT text, vars FROM run_plans WHERE run_id = ?", (run_id,))
        if not rows:
            return None
        newer = await self._query(
            "SELECT text FROM plan_versions WHERE run_id = ? ORDER BY version DESC LIMIT 1",
            (run_id,),
        )
        return (newer[0][0] if newer else rows[0][0]), json.loads(rows[0][1])

    async def save_plan_version(
        self, run_id: str, version: int, text: str, change: str, at: float
    ) -> None:
        async with self.transaction() as db:
            await self._require_run(db, run_id)
            await db.execute(
                "INSERT OR REPLACE INTO plan_versions (run_id, version, text, change, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, version, text, change, at),
            )

    async def plan_versions(self, run_id: str) -> list[tuple[int, str, str, float]]:
        first = await self._query(
            "SELECT p.text, r.created_at FROM run_plans p JOIN runs r ON r.id = p.run_id "
            "WHERE p.run_id = ?",
            (run_id,),
        )
        rows = await self._query(
            "SELECT version, text, change, at FROM plan_versions WHERE run_id = ? ORDER BY version",
            (run_id,),
        )
        out = [(1, first[0][0], "", first[0][1])] if first else []
        return out + [(r[0], r[1], r[2], r[3]) for r in rows]

    async def save_snapshot(self, run_id: str, seq: int, fmt: str, data: bytes) -> None:
        async with self.transaction() as db:
            await self._require_run(db, run_id)
            # one snapshot per run is enough: the newest replaces the older ones
            await db.execute("DELETE FROM snapshots WHERE run_id = ?", (run_id,))
            await db.execute(
                "INSERT INTO snapshots (run_id, seq, format, data) VALUES (?, ?, ?, ?)",
                (run_id, seq, fmt, data),
            )

    async def latest_snapshot(self, run_id: str, fmt: str) -> tuple[int, bytes] | None:
        rows = await self._query(
            "SELECT seq, data FROM snapshots WHERE run_id = ? AND format = ? "
            "ORDER BY seq DESC LIMIT 1",
            (run_id, fmt),
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None


async def open_store(path: str | None = None) -> SQLiteStore:
    return await SQLiteStore.open(path or default_db_path())
