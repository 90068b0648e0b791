"""The Store protocol every store implements, and the plain records it returns."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

import msgspec

from phasegate.engine.model.errors import RunNotFound
from phasegate.engine.model.events import Event

# is the engine process (pid, create time) still alive?
Liveness = Callable[[int, float], bool]

# the RunRow fields that write_batch(summary=...) may change
SUMMARY_FIELDS = frozenset(
    {
        "status",
        "started_at",
        "finished_at",
        "counts",
        "engine_pid",
        "engine_started",
        "heartbeat_at",
    }
)


def check_summary(fields: dict[str, Any]) -> None:
    """Refuse summary fields that are not run-summary columns (a programming error)."""
    unknown = set(fields) - SUMMARY_FIELDS
    if unknown:
        raise ValueError(
            f"not run summary fields: {sorted(unknown)}; allowed: {sorted(SUMMARY_FIELDS)}"
        )


class RunRow(msgspec.Struct, frozen=True):
    """A run's summary row, kept up to date by the engine for fast listing."""

    id: str
    plan_name: str
    plan_path: str
    status: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    counts: dict[str, int] = {}
    user: str = ""
    host: str = ""
    engine_pid: int | None = None
    engine_started: float | None = None
    heartbeat_at: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else self.heartbeat_at
        return (end or self.started_at) - self.started_at


class OutputLine(msgspec.Struct, frozen=True):
    run_id: str
    task: str
    attempt: int
    line: int  # numbered from 1 per task attempt, both streams together
    stream: str  # "out" | "err"
    text: str
    ts: float


class OutputDrop(msgspec.Struct, frozen=True):
    """Delete the lines of a task attempt before `before_line` (the output cap keeps the tail)."""

    run_id: str
    task: str
    attempt: int
    before_line: int


class Knowledge(msgspec.Struct, frozen=True):
    """One thing a run taught: a lesson, a note, a risk that fired, a failure."""

    kind: str  # lesson | note | risk | failure | feedback
    ts: float
    subject: str
    text: str


class SearchHit(msgspec.Struct, frozen=True):
    run_id: str
    plan: str
    kind: str
    ts: float
    subject: str
    text: str


def query_words(text: str) -> list[str]:
    """The words of a search, lower-cased (punctuation is never query syntax)."""
    return [w.lower() for w in re.findall(r"\w+", text)]


def query_terms(text: str) -> list[list[str]]:
    """The terms of a search: each whitespace-separated piece, as the words it holds, which
    must all be found, in order (`change-2` is the phrase `change 2`, not `change` or `2`)."""
    return [words for piece in text.split() if (words := query_words(piece))]


class Store(Protocol):
    """What the engine and the front ends need from storage. Every method is one transaction."""

    async def close(self) -> None: ...

    async def damage(self) -> str:
        """What is wrong with the stored data (a file truncated or overwritten), or ""."""
        ...

    async def create_run(self, row: RunRow) -> None: ...

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Append events (seq, event), output lines and run-summary fields in one transaction.

        All or nothing: a sequence number or output line used twice, or an unknown run, raises
        StoreError and leaves nothing of the batch behind.
        """
        ...

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[tuple[int, Event]]: ...

    async def last_event(self, run_id: str) -> tuple[int, float] | None:
        """The seq and time of a run's newest event (None: it has none), without reading it."""
        ...

    async def recent_events(
        self, run_id: str, types: Collection[str], upto_seq: int, limit: int
    ) -> list[tuple[int, Event]]:
        """At most `limit` of a run's events of the given type names up to `upto_seq`, newest
        first (filtered by the store, before anything is decoded)."""
        ...

    async def tail(self, after_rowid: int, limit: int = 1000) -> list[tuple[int, str, int, Event]]:
        """Events of every run after a global cursor: (rowid, run id, seq, event)."""
        ...

    async def list_runs(self, limit: int | None = None) -> list[RunRow]: ...

    async def get_run(self, run_id: str) -> RunRow | None: ...

    async def run_ids(self) -> list[str]:
        """Every run id, newest first."""
        ...

    async def read_output(
        self, run_id: str, task: str | None = None, attempt: int | None = None, after_line: int = 0
    ) -> list[OutputLine]: ...

    async def tail_output(
        self, run_id: str, after_rowid: int, task: str | None = None, limit: int = 5000
    ) -> list[tuple[int, OutputLine]]:
        """Output lines in the order they were written, after a cursor: (cursor, line)."""
        ...

    async def tail_task_output(
        self, run_id: str, task: str, after: tuple[int, int] = (0, 0), limit: int = 5000
    ) -> list[OutputLine]:
        """One task's lines after (attempt, line), in order."""
        ...

    async def last_task_output(self, run_id: str, task: str, limit: int) -> list[OutputLine]:
        """One task's newest `limit` lines (of every attempt), in order: where a pane that
        holds a window of the output starts."""
        ...

    async def count_task_output(self, run_id: str, task: str, before: tuple[int, int]) -> int:
        """How many of one task's lines the store keeps before (attempt, line)."""
        ...

    async def output_activity(
        self, run_id: str, after: int
    ) -> tuple[int, dict[str, tuple[float, str]]]:
        """Which tasks wrote output after a cursor, when last and what: (new cursor,
        {task: (ts, its newest line)})."""
        ...

    async def acquire_lease(
        self, run_id: str, pid: int, started: float, now: float, alive: Liveness
    ) -> None:
        """Make this engine the run's only engine, or raise EngineBusy naming the live one."""
        ...

    async def release_lease(self, run_id: str, pid: int) -> None: ...

    async def save_plan(self, run_id: str, text: str, variables: dict[str, str]) -> None:
        """Keep the plan text and variables a run was started with (for `resume`)."""
        ...

    async def load_plan(self, run_id: str) -> tuple[str, dict[str, str]] | None:
        """The plan text the run follows (its newest applied amendment, else the text it was
        started with) and its variables."""
        ...

    async def save_plan_version(
        self, run_id: str, version: int, text: str, change: str, at: float
    ) -> None:
        """Keep an applied amendment's plan text beside the first (version 1)."""
        ...

    async def plan_versions(self, run_id: str) -> list[tuple[int, str, str, float]]:
        """Every version of the run's plan: (version, text, change, at), the first included."""
        ...

    async def save_snapshot(self, run_id: str, seq: int, fmt: str, data: bytes) -> None:
        """Keep the fold of a run's events up to `seq`, serialised in format `fmt`."""
        ...

    async def latest_snapshot(self, run_id: str, fmt: str) -> tuple[int, bytes] | None:
        """The newest snapshot of the run in format `fmt`: (seq, data)."""
        ...

    async def record_durations(
        self, plan: str, run_id: str, at: float, seconds: dict[str, float]
    ) -> None:
        """How long each task of a finished run took (its successful attempt)."""
        ...

    async def durations(
        self, plan: str, runs: int = 20, before: float | None = None
    ) -> dict[str, list[float]]:
        """Each task's durations in the newest `runs` runs of the plan that recorded them
        (`before`: those recorded before then)."""
        ...

    async def remember(self, run_id: str, plan: str, entries: Sequence[Knowledge]) -> None:
        """Replace what the run taught (lessons, notes, risks, failures) in the searchable index."""
        ...

    async def search(
        self, text: str, limit: int = 20, exclude_run: str | None = None
    ) -> list[SearchHit]:
        """Entries of earlier runs matching any word of `text`, best first."""
        ...


async def resolve_run(store: Store, ref: str) -> RunRow:
    """A run from an id, a unique id prefix, or `last` (the newest run)."""
    if not ref.strip():
        raise RunNotFound("no run given; give a run id, a unique prefix or `last`")
    ids = await store.run_ids()
    if not ids:
        raise RunNotFound("there are no runs yet; start one with `phasegate run PLAN`")
    if ref in ("last", "latest"):
        match = ids[0]
    elif ref in ids:
        match = ref
    else:
        found = [i for i in ids if i.startswith(ref)]
        if not found:
            raise RunNotFound(
                f"no run '{ref}'; give a run id, a unique prefix or `last` "
                "(list them with `phasegate runs`)"
            )
        if len(found) > 1:
            raise RunNotFound(
                f"'{ref}' matches {len(found)} runs ({', '.join(found[:5])}); give more of the id"
            )
        match = found[0]
    row = await store.get_run(match)
    if row is None:  # pragma: no cover - deleted between the two reads
        raise RunNotFound(f"run '{match}' disappeared")
    return row
