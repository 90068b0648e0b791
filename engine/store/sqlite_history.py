"""The SQLite store's history across runs: how long each task of a plan took, and what runs
taught (lessons, notes, risks, failures, feedback) for `search` to find later (SQLiteHistory, a
base class of SQLiteStore, engine/store/sqlite.py, which holds the connection)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from phasegate.engine.store.base import Knowledge, SearchHit, query_terms

if TYPE_CHECKING:
    import aiosqlite


class SQLiteHistory:
    """The queries of the history tables (task_durations, knowledge), through SQLiteStore's
    `_query` and `transaction`."""

    if TYPE_CHECKING:  # (SQLiteStore's: it holds the connection and its lock)

        async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

    async def record_durations(
        self, plan: str, run_id: str, at: float, seconds: dict[str, float]
    ) -> None:
        async with self.transaction() as db:
            await db.executemany(
                "INSERT OR REPLACE INTO task_durations (plan, task, run_id, seconds, at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(plan, task, run_id, s, at) for task, s in seconds.items()],
            )

    async def durations(
        self, plan: str, runs: int = 20, before: float | None = None
    ) -> dict[str, list[float]]:
        until = before if before is not None else 1e300
        rows = await self._query(
            "SELECT task, seconds FROM task_durations WHERE plan = ? AND at < ? AND run_id IN "
            "(SELECT run_id FROM task_durations WHERE plan = ? AND at < ? GROUP BY run_id "
            "ORDER BY MAX(at) DESC LIMIT ?)",
            (plan, until, plan, until, runs),
        )
        found: dict[str, list[float]] = {}
        for task, seconds in rows:
            found.setdefault(task, []).append(float(seconds))
        return found

    async def remember(self, run_id: str, plan: str, entries: Sequence[Knowledge]) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM knowledge WHERE run_id = ?", (run_id,))
            await db.executemany(
                "INSERT INTO knowledge (run_id, plan, kind, ts, subject, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, plan, k.kind, k.ts, k.subject, k.text) for k in entries],
            )

    async def search(
        self, text: str, limit: int = 20, exclude_run: str | None = None
    ) -> list[SearchHit]:
        terms = query_terms(text)
        if not terms:
            return []
        match = " OR ".join(f'"{" ".join(words)}"' for words in terms)  # (phrases)
        rows = await self._query(
            "SELECT run_id, plan, kind, ts, subject, text FROM knowledge "
            "WHERE knowledge MATCH ? AND run_id != ? ORDER BY bm25(knowledge), ts DESC LIMIT ?",
            (match, exclude_run or "", limit),
        )
        return [SearchHit(r[0], r[1], r[2], float(r[3]), r[4], r[5]) for r in rows]
