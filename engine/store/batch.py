"""A run's batch of events and output lines written in one transaction, on the event loop's own
thread while the database is free.

This is the engine's hottest write (one batch every 20 ms). Through aiosqlite each batch took
six round trips to the connection's thread, each a hand-off of the GIL back and forth with the
loop, which was spawning and reaping tasks meanwhile: 2,000 `true` tasks took 0.1 s longer and
0.19 s more CPU than with the same statements run here (bench/throughput.py's layered DAG,
interleaved runs). A batch of a few hundred rows commits in well under a millisecond in WAL mode
without an fsync (synchronous=NORMAL).

So the transaction begins here without waiting (busy timeout 0). When another process holds the
write lock, nothing waits on the loop: the same batch is written from a worker thread that
waits out the busy timeout, as before, while the loop goes on. The caller holds the store's
lock (no other coroutine of this process uses the database meanwhile) and keeps it until the
writer is done with its connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from phasegate.engine.model.errors import StoreError
from phasegate.engine.store.base import OutputDrop, OutputLine
from phasegate.engine.store.chain import anchor, identity, link

# (seq, type, version, JSON data, ts): an event as Event.record() gives it, with its place
Record = tuple[int, str, int, str, float]


class Batch(NamedTuple):
    """What one transaction writes for a run."""

    run_id: str
    records: Sequence[Record]
    output: Sequence[OutputLine]
    drops: Sequence[OutputDrop]
    summary: dict[str, Any] | None


class Busy(Exception):
    """Another connection holds the write lock: nothing was written."""


class BatchWriter:
    """Its own connection to the store's database, used by one thread at a time: the loop's,
    or its one waiting thread's while a batch waits there for another process's lock."""

    def __init__(self, target: str, uri: bool) -> None:
        self._conn = sqlite3.connect(
            target, isolation_level=None, timeout=0, uri=uri, check_same_thread=False
        )
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._waiter: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """(The caller holds the store's lock: no batch is in flight.)"""
        if self._waiter is not None:
            self._waiter.shutdown(wait=True)
            self._waiter = None
        self._conn.close()

    async def put(self, batch: Batch, wait_ms: int) -> None:
        """The batch at once on this thread when the database is free; else in the waiting
        thread, for up to `wait_ms`, while the loop goes on. Cancelled, it still returns only
        once that thread is done with the connection (the batch is then whole or absent)."""
        try:
            self.write(batch)
            return
        except Busy:
            pass
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(1, thread_name_prefix="phasegate-batch")
        job = self._waiter.submit(self.write, batch, wait_ms)
        cancelled = False
        while not job.done():  # (the thread's own state, whatever is cancelled around it)
            try:
                await asyncio.shield(asyncio.wrap_future(job))
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        job.result()

    def write(self, batch: Batch, wait_ms: int = 0) -> None:
        """Write it all or nothing; Busy (nothing written) when the write lock is held longer
        than `wait_ms`; sqlite3.Error or StoreError on any other failure (rolled back)."""
        c = self._conn
        c.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise Busy(str(exc)) from None
            raise
        try:
            _statements(c, batch)
            c.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise


def _statements(c: sqlite3.Connection, batch: Batch) -> None:
    run_id, records, output, drops, summary = batch
    # the same refusal as the memory store (foreign keys are off: they would cost a lookup per
    # row on the hottest path)
    row = c.execute(
        "SELECT user, host, plan_name, plan_path, created_at FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"run {run_id} does not exist")
    if records:
        head = c.execute(
            "SELECT chain FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        prev = str(head[0] or "") if head else ""
        rows = []
        for seq, name, version, data, ts in records:
            prev = link(prev, run_id, seq, name, ts, version, data)
            rows.append((run_id, seq, name, ts, version, data, prev))
        c.executemany(
            "INSERT INTO events (run_id, seq, type, ts, v, data, chain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        # the run's row anchors the chain's new end (chain.py): a tail removed shows
        last = records[-1][0]
        summary = {**(summary or {}), "chain_seq": last}
        summary["chain_anchor"] = anchor(prev, last, identity(run_id, *row))
    if output:
        c.executemany(
            "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(o.run_id, o.task, o.attempt, o.line, o.stream, o.text, o.ts) for o in output],
        )
    for d in drops:
        c.execute(
            "DELETE FROM output WHERE run_id = ? AND task = ? AND attempt = ? AND line < ?",
            (d.run_id, d.task, d.attempt, d.before_line),
        )
    if summary:  # (checked by the caller: the names become SQL, only known columns get here)
        values = [json.dumps(v) if k == "counts" else v for k, v in summary.items()]
        assignments = ", ".join(f"{k} = ?" for k in summary)
        c.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))
