"""Small builders shared by the store tests."""

from __future__ import annotations

from phasegate.engine.model import events as ev
from phasegate.engine.store.base import OutputLine, RunRow, Store

T0 = 1_700_000_000.0


def run_row(run_id: str, created_at: float = T0, status: str = "pending") -> RunRow:
    return RunRow(run_id, "plan", "plans/plan.yaml", status, created_at, user="alice", host="h1")


def started(run_id: str, tasks: tuple[str, ...] = ("a", "b"), ts: float = T0) -> ev.RunStarted:
    return ev.RunStarted(
        ts,
        run_id,
        "plan",
        "plans/plan.yaml",
        phases=[{"id": "p", "title": "P", "timebox": None}],
        tasks=[
            {"id": t, "phase": "p", "agent": "a1", "capability": None, "needs": [], "estimate": 1.5}
            for t in tasks
        ],
        agents=[{"id": "a1", "slots": 2, "capabilities": []}],
        user="alice",
        host="host-1",
    )


def ready(task: str, i: int) -> ev.TaskReady:
    return ev.TaskReady(T0 + i, task)


def line(run_id: str, task: str, n: int, attempt: int = 1, ts: float | None = None) -> OutputLine:
    stream = "err" if n % 3 == 0 else "out"
    return OutputLine(run_id, task, attempt, n, stream, f"{task}#{attempt} line {n}", ts or T0 + n)


async def new_run(store: Store, run_id: str, created_at: float = T0) -> None:
    await store.create_run(run_row(run_id, created_at))
