"""An in-memory store with the same contract as the SQLite one, for tests and simulations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import msgspec

from phasegate.engine.model.errors import EngineBusy, StoreError
from phasegate.engine.model.events import Event, from_json
from phasegate.engine.store.base import (
    Knowledge,
    Liveness,
    OutputDrop,
    OutputLine,
    RunRow,
    SearchHit,
    check_summary,
    query_terms,
    query_words,
)


class MemoryStore:
    """Every method runs without awaiting, so each is atomic on the loop, like a transaction."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRow] = {}
        self._order: list[str] = []
        # events are kept serialised, as the SQLite store keeps them, so both fold the same data
        self._events: list[tuple[str, int, str, float, int, str]] = []
        self._keys: set[tuple[str, int]] = set()
        self._output: dict[tuple[str, str, int, int], OutputLine] = {}
        self._cursor: dict[tuple[str, str, int, int], int] = {}
        self._last_cursor = 0  # output cursors only grow, even when dropped lines are rewritten
        self._plans: dict[str, tuple[str, dict[str, str]]] = {}
        self._versions: dict[str, list[tuple[int, str, str, float]]] = {}
        self._snapshots: dict[str, tuple[int, str, bytes]] = {}
        self._knowledge: dict[str, tuple[str, list[Knowledge]]] = {}
        self._durations: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}

    async def damage(self) -> str:
        return ""

    async def close(self) -> None:
        return None

    async def create_run(self, row: RunRow) -> None:
        if row.id in self._runs:
            raise StoreError(f"run {row.id} exists already")
        self._runs[row.id] = msgspec.structs.replace(row, counts=dict(row.counts))
        self._order.append(row.id)

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        # every check comes before the first change, so a refused batch leaves nothing behind
        if run_id not in self._runs:
            raise StoreError(f"run {run_id} does not exist")
        if summary:
            check_summary(summary)
        keys = [(run_id, s) for s, _ in events]
        if len(set(keys)) != len(keys) or self._keys.intersection(keys):
            raise StoreError(f"run {run_id}: an event sequence number is used twice")
        lines = [(o.run_id, o.task, o.attempt, o.line) for o in output]
        if len(set(lines)) != len(lines) or any(k in self._output for k in lines):
            raise StoreError(f"run {run_id}: an output line is written twice")
        rows = []
        for seq, e in events:  # serialise first: an event that cannot be stored changes nothing
            name, version, data = e.record()
            rows.append((run_id, seq, name, e.ts, version, data))
        self._keys.update(keys)
        self._events.extend(rows)
        for key, o in zip(lines, output, strict=True):
            self._output[key] = o
            self._last_cursor += 1
            self._cursor[key] = self._last_cursor
        for d in drops:
            for key in [
                k
                for k in self._output
                if k[:3] == (d.run_id, d.task, d.attempt) and k[3] < d.before_line
            ]:
                del self._output[key]
        if summary:
            if "counts" in summary:
                summary = {**summary, "counts": dict(summary["counts"] or {})}
            self._runs[run_id] = msgspec.structs.replace(self._runs[run_id], **summary)

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[tuple[int, Event]]:
        rows = sorted(
            (r for r in self._events if r[0] == run_id and r[1] > after_seq), key=lambda r: r[1]
        )
        return [(r[1], from_json(r[2], r[3], r[4], r[5])) for r in rows]

    async def last_event(self, run_id: str) -> tuple[int, float] | None:
        mine = [(r[1], r[3]) for r in self._events if r[0] == run_id]
        return max(mine) if mine else None

    async def recent_events(
        self, run_id: str, types: Collection[str], upto_seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        rows = sorted(
            (r for r in self._events if r[0] == run_id and r[1] <= upto_seq and r[2] in types),
            key=lambda r: -r[1],
        )[:limit]
        return [(r[1], from_json(r[2], r[3], r[4], r[5])) for r in rows]

    async def tail(self, after_rowid: int, limit: int = 1000) -> list[tuple[int, str, int, Event]]:
        out = []
        for rowid, r in enumerate(self._events[after_rowid : after_rowid + limit], after_rowid + 1):
            out.append((rowid, r[0], r[1], from_json(r[2], r[3], r[4], r[5])))
        return out

    def _newest_first(self) -> list[RunRow]:
        rows = [self._runs[i] for i in self._order]
        rows.reverse()
        return sorted(rows, key=lambda r: r.created_at, reverse=True)

    async def list_runs(self, limit: int | None = None) -> list[RunRow]:
        rows = self._newest_first()
        return rows if limit is None else rows[:limit]

    async def get_run(self, run_id: str) -> RunRow | None:
        return self._runs.get(run_id)

    async def run_ids(self) -> list[str]:
        return [r.id for r in self._newest_first()]

    async def read_output(
        self, run_id: str, task: str | None = None, attempt: int | None = None, after_line: int = 0
    ) -> list[OutputLine]:
        rows = [
            o
            for o in self._output.values()
            if o.run_id == run_id
            and (task is None or o.task == task)
            and (attempt is None or o.attempt == attempt)
            and o.line > after_line
        ]
        if task is None:
            return sorted(rows, key=lambda o: (o.ts, o.task, o.attempt, o.line))
        return sorted(rows, key=lambda o: (o.attempt, o.line))

    async def tail_output(
        self, run_id: str, after_rowid: int, task: str | None = None, limit: int = 5000
    ) -> list[tuple[int, OutputLine]]:
        rows = sorted(
            (self._cursor[k], o)
            for k, o in self._output.items()
            if o.run_id == run_id
            and self._cursor[k] > after_rowid
            and (task is None or o.task == task)
        )
        return rows[:limit]

    async def tail_task_output(
        self, run_id: str, task: str, after: tuple[int, int] = (0, 0), limit: int = 5000
    ) -> list[OutputLine]:
        rows = sorted(
            (
                o
                for o in self._output.values()
                if o.run_id == run_id and o.task == task and (o.attempt, o.line) > after
            ),
            key=lambda o: (o.attempt, o.line),
        )
        return rows[:limit]

    async def last_task_output(self, run_id: str, task: str, limit: int) -> list[OutputLine]:
        rows = sorted(
            (o for o in self._output.values() if o.run_id == run_id and o.task == task),
            key=lambda o: (o.attempt, o.line),
        )
        return rows[len(rows) - limit :] if limit > 0 else []

    async def count_task_output(self, run_id: str, task: str, before: tuple[int, int]) -> int:
        return sum(
            1
            for o in self._output.values()
            if o.run_id == run_id and o.task == task and (o.attempt, o.line) < before
        )

    async def output_activity(
        self, run_id: str, after: int
    ) -> tuple[int, dict[str, tuple[float, str]]]:
        cursor = after
        newest: dict[str, tuple[int, float, str]] = {}
        for key, line in self._output.items():
            at = self._cursor[key]
            if line.run_id == run_id and at > after:
                cursor = max(cursor, at)
                if at > newest.get(line.task, (0, 0.0, ""))[0]:
                    newest[line.task] = (at, line.ts, line.text)
        return cursor, {task: (ts, text) for task, (_, ts, text) in newest.items()}

    async def acquire_lease(
        self, run_id: str, pid: int, started: float, now: float, alive: Liveness
    ) -> None:
        row = self._runs.get(run_id)
        if row is None:
            raise StoreError(f"run {run_id} does not exist")
        if (
            row.engine_pid
            and row.engine_pid != pid
            and alive(row.engine_pid, row.engine_started or 0.0)
        ):
            raise EngineBusy(
                f"run {run_id} already has a live engine (pid {row.engine_pid}); "
                "attach to it instead, or stop that engine first"
            )
        self._runs[run_id] = msgspec.structs.replace(
            row, engine_pid=pid, engine_started=started, heartbeat_at=now
        )

    async def release_lease(self, run_id: str, pid: int) -> None:
        row = self._runs.get(run_id)
        if row is not None and row.engine_pid == pid:
            self._runs[run_id] = msgspec.structs.replace(row, engine_pid=None)

    async def save_plan(self, run_id: str, text: str, variables: dict[str, str]) -> None:
        if run_id not in self._runs:
            raise StoreError(f"run {run_id} does not exist")
        self._plans[run_id] = (text, dict(variables))

    async def load_plan(self, run_id: str) -> tuple[str, dict[str, str]] | None:
        found = self._plans.get(run_id)
        newer = self._versions.get(run_id)
        if found is None:
            return None
        return (newer[-1][1] if newer else found[0]), dict(found[1])

    async def save_plan_version(
        self, run_id: str, version: int, text: str, change: str, at: float
    ) -> None:
        if run_id not in self._runs:
            raise StoreError(f"run {run_id} does not exist")
        kept = [v for v in self._versions.get(run_id, []) if v[0] != version]
        self._versions[run_id] = sorted([*kept, (version, text, change, at)])

    async def plan_versions(self, run_id: str) -> list[tuple[int, str, str, float]]:
        found = self._plans.get(run_id)
        first = [(1, found[0], "", self._runs[run_id].created_at)] if found else []
        return first + list(self._versions.get(run_id, []))

    async def save_snapshot(self, run_id: str, seq: int, fmt: str, data: bytes) -> None:
        if run_id not in self._runs:
            raise StoreError(f"run {run_id} does not exist")
        self._snapshots[run_id] = (seq, fmt, bytes(data))

    async def latest_snapshot(self, run_id: str, fmt: str) -> tuple[int, bytes] | None:
        found = self._snapshots.get(run_id)
        if found is None or found[1] != fmt:
            return None
        return found[0], found[2]

    async def remember(self, run_id: str, plan: str, entries: Sequence[Knowledge]) -> None:
        self._knowledge[run_id] = (plan, list(entries))

    async def search(
        self, text: str, limit: int = 20, exclude_run: str | None = None
    ) -> list[SearchHit]:
        """Any word matching a word of an entry (by prefix, as a stemmer roughly would), most
        matched words first."""
        terms = query_terms(text)
        scored = []
        for run_id, (plan, entries) in self._knowledge.items():
            if run_id == exclude_run:
                continue
            for k in entries:
                have = query_words(f"{k.subject} {k.text}")
                hits = sum(
                    1
                    for words in terms
                    if all(any(h.startswith(w[:5]) for h in have) for w in words)
                )
                if hits:
                    scored.append(
                        (-hits, -k.ts, SearchHit(run_id, plan, k.kind, k.ts, k.subject, k.text))
                    )
        scored.sort(key=lambda x: (x[0], x[1]))
        return [f for _, _, f in scored[:limit]]

    async def record_durations(
        self, plan: str, run_id: str, at: float, seconds: dict[str, float]
    ) -> None:
        self._durations[(plan, run_id)] = (at, dict(seconds))

    async def durations(
        self, plan: str, runs: int = 20, before: float | None = None
    ) -> dict[str, list[float]]:
        until = before if before is not None else float("inf")
        newest = sorted(
            (v for (p, _), v in self._durations.items() if p == plan and v[0] < until),
            key=lambda v: -v[0],
        )[:runs]
        found: dict[str, list[float]] = {}
        for _, seconds in newest:
            for task, s in seconds.items():
                found.setdefault(task, []).append(s)
        return found
