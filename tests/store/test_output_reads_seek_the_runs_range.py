"""`logs RUN` (tail_output) and `attach` (output_activity) read a run's output as a range of
the index (run_id, id): each batch costs its own lines, not a re-read and sort of the run's
whole output, nor a scan of every other run's lines."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow

from .helpers import T0


async def _two_runs(db_path: Path) -> SQLiteStore:
    """Runs `big` and `small`, their lines interleaved, `small` also far after `big`."""
    store = await SQLiteStore.open(str(db_path))
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        for run_id in ("big", "small"):
            await store.create_run(RunRow(run_id, "p", "p.yaml", "running", T0))
        conn.execute("BEGIN")
        rows = []
        for n in range(1, 201):
            rows.append(("big", "a" if n % 2 else "b", n, f"big {n}", T0 + n))
            if n % 50 == 0:
                rows.append(("small", "s", n, f"small {n}", T0 + n))
        rows += [("small", "t", n, f"late {n}", T0 + 1000 + n) for n in range(1, 4)]
        conn.executemany(
            "INSERT INTO output (run_id, task, attempt, line, stream, text, ts) "
            "VALUES (?, ?, 1, ?, 'out', ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    return store


def _recording(store: SQLiteStore) -> list[tuple[str, Any]]:
    """Record the SQL the store runs (with its parameters), to explain it afterwards."""
    asked: list[tuple[str, Any]] = []
    query = store._query

    async def recording(sql: str, params: Sequence[Any] = ()) -> list[Any]:
        asked.append((sql, params))
        return await query(sql, params)

    store._query = recording  # type: ignore[method-assign]
    return asked


def _explain(db_path: Path, sql: str, params: Any) -> str:
    with closing(sqlite3.connect(db_path)) as conn:
        return " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


async def test_logs_reads_a_runs_output_in_batches_as_index_ranges(db_path: Path) -> None:
    db_path.parent.mkdir()
    store = await _two_runs(db_path)
    try:
        asked = _recording(store)
        cursor, texts = 0, []
        while batch := await store.tail_output("small", cursor, limit=2):
            cursor = batch[-1][0]
            texts += [line.text for _, line in batch]
        # every line of the run, in the order written, none of the other run's
        assert texts == ["small 50", "small 100", "small 150", "small 200"] + [
            f"late {n}" for n in range(1, 4)
        ]
        plans = {_explain(db_path, sql, params) for sql, params in asked}
        assert plans, "tail_output ran no query"
        for plan in plans:
            assert "TEMP B-TREE" not in plan, plan  # (no sort of the run's whole output)
            assert "(run_id=? AND id>?)" in plan, plan  # (a seek to the cursor)
        # one task's lines: all of them, in order, the other tasks' left out
        only = await store.tail_output("big", 0, task="b")
        assert [line.line for _, line in only] == list(range(2, 201, 2))
    finally:
        await store.close()


async def test_attach_reads_what_each_task_printed_last_from_its_runs_range(
    db_path: Path,
) -> None:
    db_path.parent.mkdir()
    store = await _two_runs(db_path)
    try:
        asked = _recording(store)
        cursor, active = await store.output_activity("small", 0)
        assert active == {"s": (T0 + 200, "small 200"), "t": (T0 + 1003, "late 3")}
        assert cursor == max(c for c, _ in await store.tail_output("small", 0))
        assert await store.output_activity("small", cursor) == (cursor, {})
        # the first run's lines after the second's last: only big's
        big_cursor, big = await store.output_activity("big", 0)
        assert big == {"a": (T0 + 199, "big 199"), "b": (T0 + 200, "big 200")}
        assert big_cursor < cursor
        (sql, params), *_ = asked
        plan = _explain(db_path, sql, params)
        # a seek into the run's own lines, not a scan of every run's from the cursor on
        assert "(run_id=? AND id>?)" in plan and "rowid>?" not in plan, plan
    finally:
        await store.close()


async def test_a_reader_who_may_not_migrate_reads_a_schema_only_indexed_since(
    tmp_path: Path,
) -> None:
    """Migration 11 adds an index only: a database of version 10, shared read-only by its
    owner (whose phasegate has not opened it since), was refused to everyone else ("not yours
    to migrate") though every query reads it as it is."""
    from phasegate.engine.store.opening import open_read_only

    path = str(tmp_path / "old.db")
    store = await SQLiteStore.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:  # (as its owner's older phasegate left it)
        conn.execute("DROP INDEX output_run_order")
        conn.execute("DELETE FROM schema_migrations WHERE version = 11")
    conn.close()
    reader, _ = await open_read_only(path)
    try:
        rows = await reader.execute_fetchall("SELECT MAX(version) FROM schema_migrations")
        assert list(rows) == [(10,)]
    finally:
        await reader.close()
