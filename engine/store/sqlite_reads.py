"""The SQLite store's reads of what runs recorded: their rows, their events and their output
(SQLiteReads, a base class of SQLiteStore, engine/store/sqlite.py, which holds the connection)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from phasegate.engine.model.events import Event, from_json
from phasegate.engine.store.base import OutputLine, RunRow
from phasegate.engine.store.chain import Row, RunFacts
from phasegate.engine.store.migrations import ANCHORED

RUN_COLUMNS = (
    "id, plan_name, plan_path, status, created_at, started_at, finished_at, counts, user, host, "
    "engine_pid, engine_started, heartbeat_at"
)


def run_row(r: Sequence[Any]) -> RunRow:
    return RunRow(
        id=r[0],
        plan_name=r[1],
        plan_path=r[2],
        status=r[3],
        created_at=r[4],
        started_at=r[5],
        finished_at=r[6],
        counts=json.loads(r[7] or "{}") or {},
        user=r[8],
        host=r[9],
        engine_pid=r[10],
        engine_started=r[11],
        heartbeat_at=r[12],
    )


class SQLiteReads:
    """The queries that read a run's rows, events and output, through SQLiteStore's `_query`."""

    if TYPE_CHECKING:  # (SQLiteStore's: it holds the connection and its lock)

        async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[tuple[int, Event]]:
        rows = await self._query(
            "SELECT seq, type, ts, v, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )
        return [(r[0], from_json(r[1], r[2], r[3], r[4])) for r in rows]

    async def chained_events(self, run_id: str) -> list[Row]:
        """The run's event rows as stored, with their hash chain (for `audit --verify`)."""
        rows = await self._query(
            "SELECT seq, type, ts, v, data, chain FROM events WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def run_facts(self, run_id: str) -> RunFacts | None:
        """The run's row as `audit --verify` checks it: identity and chain anchor."""
        rows = await self._query(
            "SELECT user, host, plan_name, plan_path, created_at, chain_seq, chain_anchor, "
            "(SELECT applied_at FROM schema_migrations WHERE version = ?) "
            "FROM runs WHERE id = ?",
            (ANCHORED, run_id),
        )
        return RunFacts(*rows[0]) if rows else None

    async def last_event(self, run_id: str) -> tuple[int, float] | None:
        rows = await self._query(
            "SELECT seq, ts FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
        )
        return (int(rows[0][0]), float(rows[0][1])) if rows else None

    async def recent_events(
        self, run_id: str, types: Collection[str], upto_seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        rows = await self._query(
            "SELECT seq, type, ts, v, data FROM events WHERE run_id = ? AND seq <= ? "
            f"AND type IN ({', '.join('?' * len(types))}) ORDER BY seq DESC LIMIT ?",
            (run_id, upto_seq, *types, limit),
        )
        return [(r[0], from_json(r[1], r[2], r[3], r[4])) for r in rows]

    async def tail(self, after_rowid: int, limit: int = 1000) -> list[tuple[int, str, int, Event]]:
        rows = await self._query(
            "SELECT id, run_id, seq, type, ts, v, data FROM events WHERE id > ? "
            "ORDER BY id LIMIT ?",
            (after_rowid, limit),
        )
        return [(r[0], r[1], r[2], from_json(r[3], r[4], r[5], r[6])) for r in rows]

    async def list_runs(self, limit: int | None = None) -> list[RunRow]:
        rows = await self._query(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (limit if limit is not None else -1,),
        )
        return [run_row(r) for r in rows]

    async def get_run(self, run_id: str) -> RunRow | None:
        rows = await self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return run_row(rows[0]) if rows else None

    async def run_ids(self) -> list[str]:
        rows = await self._query("SELECT id FROM runs ORDER BY created_at DESC, rowid DESC")
        return [r[0] for r in rows]

    async def read_output(
        self, run_id: str, task: str | None = None, attempt: int | None = None, after_line: int = 0
    ) -> list[OutputLine]:
        sql = "SELECT run_id, task, attempt, line, stream, text, ts FROM output WHERE run_id = ?"
        params: list[Any] = [run_id]
        if task is not None:
            sql += " AND task = ?"
            params.append(task)
        if attempt is not None:
            sql += " AND attempt = ?"
            params.append(attempt)
        if after_line:
            sql += " AND line > ?"
            params.append(after_line)
        sql += " ORDER BY ts, task, attempt, line" if task is None else " ORDER BY attempt, line"
        return [OutputLine(*r) for r in await self._query(sql, params)]

    async def tail_output(
        self, run_id: str, after_rowid: int, task: str | None = None, limit: int = 5000
    ) -> list[tuple[int, OutputLine]]:
        # the whole run: a range of the index (run_id, id), read in order, so a batch costs its
        # own lines (not a re-read and sort of the run's whole output, as each batch did before)
        sql = "SELECT id, run_id, task, attempt, line, stream, text, ts FROM output WHERE "
        if task is None:
            sql += "run_id = ? AND id > ? ORDER BY id LIMIT ?"
            params: list[Any] = [run_id, after_rowid, limit]
        else:
            # one task: its rows through the unique index (run_id, task, ...), sorted (the
            # range of (run_id, id) would read the other tasks' lines after the cursor too)
            sql += "run_id = ? AND task = ? AND +id > ? ORDER BY +id LIMIT ?"
            params = [run_id, task, after_rowid, limit]
        rows = await self._query(sql, params)
        return [(r[0], OutputLine(*r[1:])) for r in rows]

    async def tail_task_output(
        self, run_id: str, task: str, after: tuple[int, int] = (0, 0), limit: int = 5000
    ) -> list[OutputLine]:
        """One task's lines after (attempt, line), in order: a range of the unique index
        (run_id, task, attempt, line), so a poll costs the new lines only."""
        rows = await self._query(
            "SELECT run_id, task, attempt, line, stream, text, ts FROM output "
            "WHERE run_id = ? AND task = ? AND (attempt, line) > (?, ?) "
            "ORDER BY attempt, line LIMIT ?",
            (run_id, task, after[0], after[1], limit),
        )
        return [OutputLine(*r) for r in rows]

    async def last_task_output(self, run_id: str, task: str, limit: int) -> list[OutputLine]:
        """One task's newest lines, read backwards along the same index (a 200,000-line
        task costs its last `limit` lines, not its whole output)."""
        rows = await self._query(
            "SELECT run_id, task, attempt, line, stream, text, ts FROM output "
            "WHERE run_id = ? AND task = ? ORDER BY attempt DESC, line DESC LIMIT ?",
            (run_id, task, limit),
        )
        return [OutputLine(*r) for r in reversed(rows)]

    async def count_task_output(self, run_id: str, task: str, before: tuple[int, int]) -> int:
        # (a count over the index: about 25 ms for 200,000 lines; asked once per task shown)
        rows = await self._query(
            "SELECT COUNT(*) FROM output "
            "WHERE run_id = ? AND task = ? AND (attempt, line) < (?, ?)",
            (run_id, task, before[0], before[1]),
        )
        return int(rows[0][0])

    async def output_activity(
        self, run_id: str, after: int
    ) -> tuple[int, dict[str, tuple[float, str]]]:
        # (with MAX(), SQLite gives the other columns of the row that has the maximum; a range
        # of the index (run_id, id): it costs the run's new lines, not every run's after `after`)
        rows = await self._query(
            "SELECT task, MAX(id), ts, text FROM output WHERE run_id = ? AND id > ? GROUP BY task",
            (run_id, after),
        )
        cursor = max((r[1] for r in rows), default=after)
        return cursor, {r[0]: (r[2], r[3]) for r in rows}
