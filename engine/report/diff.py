"""`phasegate diff RUN_A RUN_B`: what changed from one run to another."""

from __future__ import annotations

from typing import Any

from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.report.facts import FAILED_ENDS, Facts
from phasegate.engine.report.measures import actual_critical_path, metrics

# how a task can end badly without failing: each listed apart from the failures
BLOCKED = frozenset({TaskStatus.BLOCKED.value})  # never ran: a dependency ended badly
CANCELLED = frozenset({TaskStatus.CANCELLED.value})  # stopped: cancellation is not failure


def _duration(f: Facts, task: str) -> float | None:
    last = f.final(task)
    return last.duration if last is not None and last.end is not None else None


def _run(f: Facts) -> dict[str, Any]:
    """A run's side of the comparison: its duration the time its engine was alive, as the
    performance report counts it (`engine_down`: the time left out)."""
    alive = f.alive(f.start, f.end)
    return {
        "run": f.run_id,
        "status": f.state.status.value,
        "duration": alive,
        "engine_down": (f.end - f.start) - alive,
    }


def compare(a: Facts, b: Facts) -> dict[str, Any]:
    """What changed from run `a` to run `b`. Run and phase durations leave out the time their
    engine was down, as the performance report does (a take-over made a run 4.5 s long `17.4 s`
    here); a task's is its last attempt's."""
    tasks: list[dict[str, Any]] = []
    for tid in list(dict.fromkeys([*a.state.tasks, *b.state.tasks])):
        ta, tb = a.state.tasks.get(tid), b.state.tasks.get(tid)
        da, db = _duration(a, tid), _duration(b, tid)
        tasks.append(
            {
                "id": tid,
                "status_a": ta.status.value if ta else None,
                "status_b": tb.status.value if tb else None,
                "duration_a": da,
                "duration_b": db,
                "delta": db - da if da is not None and db is not None else None,
            }
        )

    def became(now: frozenset[str]) -> list[str]:
        return [t["id"] for t in tasks if t["status_b"] in now and t["status_a"] not in now]

    def ended(was: frozenset[str]) -> list[str]:
        return [t["id"] for t in tasks if t["status_a"] in was and t["status_b"] == "succeeded"]

    ma, mb = metrics(a), metrics(b)
    run_a, run_b = _run(a), _run(b)
    phases = []
    for pid in list(dict.fromkeys([*a.state.phases, *b.state.phases])):
        pa, pb = a.state.phases.get(pid), b.state.phases.get(pid)
        durations = [
            f.alive(p.started_at, p.finished_at)
            if p is not None and p.started_at is not None and p.finished_at is not None
            else None
            for f, p in ((a, pa), (b, pb))
        ]
        phases.append({"id": pid, "duration_a": durations[0], "duration_b": durations[1]})
    return {
        "a": run_a,
        "b": run_b,
        "duration_delta": run_b["duration"] - run_a["duration"],
        "tasks": tasks,
        # a failure is a task that ran and failed (or timed out): the tasks it blocked did not
        # fail, nor did a cancelled one (`new_failures` named them all, and `fixed` their return)
        "new_failures": became(FAILED_ENDS),
        "now_blocked": became(BLOCKED),
        "now_cancelled": became(CANCELLED),
        "fixed": ended(FAILED_ENDS),
        "unblocked": ended(BLOCKED),
        "phases": phases,
        "critical_path": {"a": actual_critical_path(a), "b": actual_critical_path(b)},
        # the amendments each run applied (its plan versions): a scope that moved shows here
        "amendments": {
            "a": [x["change"] for x in a.state.amendments],
            "b": [x["change"] for x in b.state.amendments],
        },
        "metrics": {k: {"a": ma[k], "b": mb[k], "delta": _delta(ma[k], mb[k])} for k in ma},
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a
