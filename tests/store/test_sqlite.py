"""What only the SQLite store promises: WAL, waiting for writers, several connections, bad files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import phasegate
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import EngineBusy
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.batch import BatchWriter
from phasegate.engine.store.opening import BUSY_TIMEOUT_MS

from .helpers import T0, line, new_run, ready, started


@pytest.fixture
async def pair(db_path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file: two connections, as two processes would have."""
    first = await SQLiteStore.open(str(db_path))
    second = await SQLiteStore.open(str(db_path))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_wal_mode_and_a_busy_timeout_are_set(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        assert await store.pragmas() == {
            "journal_mode": "wal",
            "busy_timeout": BUSY_TIMEOUT_MS,
            "synchronous": 1,  # NORMAL: safe in WAL mode, no fsync per commit
        }
    finally:
        await store.close()
    with closing(sqlite3_connect(db_path)) as conn:  # WAL is a property of the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def sqlite3_connect(path: Path) -> sqlite3.Connection:
    """A plain connection, as another process (or an older or newer phasegate) would have."""
    return sqlite3.connect(path, isolation_level=None)


async def test_a_write_waits_for_another_writer_instead_of_failing(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        with closing(sqlite3_connect(db_path)) as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock...
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, other.execute, "COMMIT")  # ...for 0.3 s
            begun = time.monotonic()
            await store.write_batch("r1", [(1, started("r1"))])
            waited = time.monotonic() - begun
        assert waited >= 0.25  # it waited for the lock (busy timeout) instead of failing
        assert len(await store.read_events("r1")) == 1
    finally:
        await store.close()


def _waits_in_its_thread(monkeypatch: pytest.MonkeyPatch, allowed: bool = True) -> asyncio.Event:
    """Set (on the loop) when a batch found the lock taken and goes to wait in its thread."""
    loop = asyncio.get_running_loop()
    seen = asyncio.Event()
    write = BatchWriter.write

    def spy(self: BatchWriter, *args: Any) -> None:
        if len(args) > 1 and args[1]:  # (wait_ms: the waiting thread's call)
            assert allowed, "a free database's batch went to a thread"
            loop.call_soon_threadsafe(seen.set)
        write(self, *args)

    monkeypatch.setattr(BatchWriter, "write", spy)
    return seen


async def test_a_batch_on_a_free_database_needs_no_thread(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's batches are written on the loop's own thread when nobody else holds the
    lock (engine/store/batch.py): no round trip to a thread, no GIL hand-off per statement.
    Only a locked database sends the batch to its waiting thread (the test above)."""
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        _waits_in_its_thread(monkeypatch, allowed=False)
        await store.write_batch(
            "r1", [(1, started("r1")), (2, ready("a", 2))], [line("r1", "a", 1)]
        )
        assert [s for s, _ in await store.read_events("r1")] == [1, 2]
        assert len(await store.read_output("r1", "a", 1)) == 1
    finally:
        await store.close()


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_batch_cancelled_while_it_waits_for_the_lock_is_whole_or_absent(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, cancels: int
) -> None:
    """A write waiting in its thread for another process's lock may be cancelled (the run is
    stopping), even twice (asyncio.run cancels what is left): it returns only once its thread
    is done with the connection, the batch is all in or not at all, and the store goes on."""
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        waiting = _waits_in_its_thread(monkeypatch)
        committed: list[bool] = []

        def commit() -> None:
            other.execute("COMMIT")
            committed.append(True)

        with closing(sqlite3_connect(db_path)) as other:
            other.execute("BEGIN IMMEDIATE")
            write = asyncio.ensure_future(
                store.write_batch("r1", [(1, started("r1")), (2, ready("a", 2))])
            )
            await waiting.wait()
            for _ in range(cancels):
                write.cancel()
                await asyncio.sleep(0)  # (one turn: the cancellation is delivered)
            asyncio.get_running_loop().call_later(0.3, commit)
            with pytest.raises(asyncio.CancelledError):
                await write
            assert committed, "the write gave up the connection while its thread still had it"
        assert [s for s, _ in await store.read_events("r1")] in ([], [1, 2])
        await store.write_batch("r1", [(3, ready("b", 3))])
        assert [s for s, _ in await store.read_events("r1")][-1] == 3
    finally:
        await store.close()


async def test_closing_the_store_waits_for_a_batch_in_its_thread(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed while a batch waited in its thread for a lock, the store closed the connection
    under that thread (a segfault); it now waits for the batch, and the batch is written."""
    store = await SQLiteStore.open(str(db_path))
    await new_run(store, "r1")
    waiting = _waits_in_its_thread(monkeypatch)
    with closing(sqlite3_connect(db_path)) as other:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(store.write_batch("r1", [(1, started("r1"))]))
        await waiting.wait()
        closed = asyncio.ensure_future(store.close())
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        await write
        await closed
    again = await SQLiteStore.open(str(db_path))
    try:
        assert [s for s, _ in await again.read_events("r1")] == [1]
    finally:
        await again.close()


async def test_a_reader_is_not_blocked_by_a_writer_and_sees_only_commits(
    pair: tuple[SQLiteStore, SQLiteStore], db_path: Path
) -> None:
    writer, reader = pair
    await new_run(writer, "r1")
    await writer.write_batch("r1", [(1, started("r1"))])
    with closing(sqlite3_connect(db_path)) as other:
        other.execute("BEGIN IMMEDIATE")
        name, version, data = ready("a", 2).record()
        other.execute(
            "INSERT INTO events (run_id, seq, type, ts, v, data) VALUES ('r1', 2, ?, ?, ?, ?)",
            (name, T0 + 2, version, data),
        )
        # the write transaction is open: reading goes on, without its uncommitted row
        assert [s for s, _ in await reader.read_events("r1")] == [1]
        assert len(await reader.tail(0)) == 1
        other.execute("COMMIT")
    assert [s for s, _ in await reader.read_events("r1")] == [1, 2]


async def test_a_reader_sees_whole_batches_while_a_writer_writes(
    pair: tuple[SQLiteStore, SQLiteStore],
) -> None:
    writer, reader = pair
    batch, batches = 25, 20
    await new_run(writer, "r1")

    async def write() -> None:
        for b in range(batches):
            events = [(b * batch + i + 1, ready("a", b * batch + i)) for i in range(batch)]
            await writer.write_batch("r1", events, [line("r1", "a", b + 1)])

    async def follow() -> list[int]:
        seen: list[int] = []
        sizes = []
        cursor = 0
        while len(seen) < batch * batches:
            rows = await reader.tail(cursor)
            if rows:
                cursor = rows[-1][0]
                seen += [seq for _, _, seq, _ in rows]
                sizes.append(len(seen))
        # it never saw part of a batch
        assert all(size % batch == 0 for size in sizes), sizes
        return seen

    _, seen = await asyncio.gather(write(), follow())
    assert seen == list(range(1, batch * batches + 1))


async def test_two_engines_racing_for_one_run_get_one_lease(
    pair: tuple[SQLiteStore, SQLiteStore],
) -> None:
    one, two = pair
    await new_run(one, "r1")

    def alive(pid: int, started: float) -> bool:
        return True

    results = await asyncio.gather(
        one.acquire_lease("r1", 111, 1.0, T0, alive),
        two.acquire_lease("r1", 222, 2.0, T0, alive),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["EngineBusy", "NoneType"]
    winner = 111 if results[0] is None else 222
    row = await two.get_run("r1")
    assert row is not None and row.engine_pid == winner
    assert any(isinstance(r, EngineBusy) and f"pid {winner}" in str(r) for r in results)


async def test_rows_of_a_newer_phasegate_are_read_not_lost(db_path: Path) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        await store.write_batch("r1", [(1, started("r1"))])
        with closing(sqlite3_connect(db_path)) as newer:
            newer.executemany(
                "INSERT INTO events (run_id, seq, type, ts, v, data) VALUES ('r1', ?, ?, ?, ?, ?)",
                [
                    (2, "gate.escalated", T0 + 2, 7, json.dumps({"gate": "qa", "evidence": [1]})),
                    # a known type at a newer version, with a field this version lacks
                    (3, "task.ready", T0 + 3, 9, json.dumps({"task": "a", "why": "deps met"})),
                ],
            )
        got = await store.read_events("r1", after_seq=1)
        assert got == [
            (2, ev.UnknownEvent(T0 + 2, "gate.escalated", {"gate": "qa", "evidence": [1]}, 7)),
            (3, ev.TaskReady(T0 + 3, "a")),
        ]
        # copied on, the unknown row is written back as it was
        await new_run(store, "copy")
        await store.write_batch("copy", await store.read_events("r1"))
        with closing(sqlite3_connect(db_path)) as conn:
            row = conn.execute(
                "SELECT type, v, data FROM events WHERE run_id = 'copy' AND seq = 2"
            ).fetchone()
        assert (row[0], row[1], json.loads(row[2])) == (
            "gate.escalated",
            7,
            {"gate": "qa", "evidence": [1]},
        )
    finally:
        await store.close()


async def test_an_in_memory_sqlite_store_has_its_tables() -> None:
    # regression: ":memory:" was migrated on one connection and served by another, which had
    # its own empty database ("no such table: runs")
    store = await SQLiteStore.open(":memory:")
    try:
        await new_run(store, "r1")
        await store.write_batch("r1", [(1, started("r1"))])
        assert [s for s, _ in await store.read_events("r1")] == [1]
    finally:
        await store.close()


# -- a read-only database ---------------------------------------------------------------------

# Root writes through any file mode (CAP_DAC_OVERRIDE), so as root the attempt runs in a child
# process whose capability bounding set lacks that power: a 0400 file is then read-only to it.
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from phasegate.engine.model.errors import StoreError
    from phasegate.engine.store import SQLiteStore
    from phasegate.engine.store.base import RunRow
    from phasegate.engine.model.events import TaskReady

    async def main(path):
        try:
            store = await SQLiteStore.open(path)
        except StoreError as exc:
            print("open refused:", exc)
            return
        try:
            await store.create_run(RunRow("r2", "p", "p.yaml", "pending", 1.0))
            print("wrote")
        except StoreError as exc:
            print("write refused:", exc)
        for run in ("r1", "zz"):  # (the engine's batch: its own connection, read-only too)
            try:
                await store.write_batch(run, [(9, TaskReady(2.0, "a"))])
                print("batch written")
            except StoreError as exc:
                print(f"batch {run} refused:", exc)
        await store.close()

    asyncio.run(main(sys.argv[1]))
    """
)


def _without_root_powers() -> list[str]:
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


@pytest.mark.parametrize("directory_writable", [True, False], ids=["file-ro", "file-and-dir-ro"])
async def test_a_read_only_database_gives_a_clear_store_error(
    db_path: Path, directory_writable: bool
) -> None:
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
    finally:
        await store.close()
    for side in db_path.parent.glob(db_path.name + "-*"):
        side.unlink()  # as after a clean close: SQLite has to make them again
    db_path.chmod(0o400)
    if not directory_writable:
        db_path.parent.chmod(0o500)
    try:
        repo = str(Path(phasegate.__file__).resolve().parent.parent)
        result = subprocess.run(
            [*_without_root_powers(), sys.executable, "-c", _CHILD, str(db_path)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        db_path.parent.chmod(0o700)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "refused" in out, out
    assert str(db_path) in out and "read-only" in out and "--db" in out, out
    refused = {line.split(" refused:")[0]: line for line in out.splitlines() if "refused" in line}
    assert "read-only" in refused.get("batch r1", ""), out
    assert "run zz does not exist" in refused.get("batch zz", ""), out


def test_an_older_run_started_is_upcast_and_a_newer_known_type_it_cannot_read_is_kept() -> None:
    old = ev.from_record(
        "run.started",
        1.0,
        1,
        {
            "run_id": "r",
            "plan_name": "p",
            "plan_path": "p.yaml",
            "phases": [],
            "tasks": [],
            "agents": [],
        },
    )
    assert isinstance(old, ev.RunStarted) and old.gates == []
    newer = ev.from_record("gate.opened", 2.0, 9, {"gate": "qa"})
    assert isinstance(newer, ev.UnknownEvent) and newer.name == "gate.opened"


async def test_a_transaction_cancelled_at_its_begin_leaves_no_transaction_open(
    db_path: Path,
) -> None:
    # regression: a caller cancelled while awaiting BEGIN (the engine stopping its inbox poll)
    # returned at once, but the BEGIN still ran in aiosqlite's thread and left a transaction
    # open: the next write failed with "cannot start a transaction within a transaction"
    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r")
        for i in range(20):

            async def write() -> None:
                await store.write_batch("r", [], summary={"status": "running"})

            task = asyncio.get_running_loop().create_task(write())
            await asyncio.sleep(0)  # it now waits for its BEGIN
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.write_batch("r", [(i + 1, ready("a", i + 1))])
        assert len(await store.read_events("r")) == 20
    finally:
        await store.close()


async def test_the_hash_chain_names_a_changed_a_removed_and_an_inserted_event(
    db_path: Path,
) -> None:
    from phasegate.engine.client import verify_chain

    store = await SQLiteStore.open(str(db_path))
    try:
        await new_run(store, "r1")
        await store.write_batch("r1", [(1, started("r1")), (2, ready("a", 2))])
        await store.write_batch("r1", [(seq, ready("a", seq)) for seq in range(3, 9)])
        assert await verify_chain(store, "r1") == (8, [])
    finally:
        await store.close()
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("UPDATE events SET ts = ts + 1 WHERE run_id = 'r1' AND seq = 3")
        db.execute("DELETE FROM events WHERE run_id = 'r1' AND seq = 5")
        db.execute(
            "INSERT INTO events (run_id, seq, type, ts, v, data) "
            "SELECT run_id, 20, type, ts, v, data FROM events WHERE run_id = 'r1' AND seq = 8"
        )
        db.commit()
    store = await SQLiteStore.open(str(db_path))
    try:
        count, problems = await verify_chain(store, "r1")
    finally:
        await store.close()
    assert count == 8
    assert problems[0].startswith("event 3 (task.ready) does not match its hash")
    assert "event 5 is missing: removed from the database" in problems
    assert "events 9 to 19 are missing: removed from the database" in problems
    assert problems[-1] == "event 20 (task.ready) carries no hash: inserted by hand"
