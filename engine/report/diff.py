"""`phasegate diff RUN_A RUN_B`: what changed from one run to another."""

from __future__ import annotations

from typing import Any

from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.report.facts import FAILED_ENDS, Facts
from phasegate.engine.report.measures import actual_critical_path, metrics

# how a task can end badly without failing: each listed apart from the failures
BLOCKED = frozenset({TaskStatus.BLOCKED.value})  # never ran: a dependency ended badly
CANCELLED = frozenset({TaskStatus.CANCELLED.value})  # stopped: cancellation is not failure
# a task's time changed noticeably between the runs: by this share of its earlier time or these
# seconds, whichever is more (a 5 ms task taking 66 ms is noise, not a change to list)
CHANGE_SHARE = 0.20
CHANGE_SECONDS = 1.0
CHANGE_WORDS = f"same status and attempts, time within {CHANGE_SHARE:.0%} or {CHANGE_SECONDS:g}s"


def changed(row: dict[str, Any]) -> bool:
    """Did a task change from one run to the other, as a person comparing them means it: its
    status, its number of attempts, or its time by CHANGE_SHARE of the earlier time or by
    CHANGE_SECONDS, whichever is more (a task in one run only: changed)."""
    if row["status_a"] != row["status_b"] or row["attempts_a"] != row["attempts_b"]:
        return True
    da, db = row["duration_a"], row["duration_b"]
    if da is None or db is None:
        return da is not db
    return bool(abs(db - da) >= max(CHANGE_SHARE * da, CHANGE_SECONDS))


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
        sa, sb = (ta.status.value if ta else None), (tb.status.value if tb else None)
        na, nb = (ta.attempts if ta else 0), (tb.attempts if tb else 0)
        row: dict[str, Any] = {
            "id": tid,
            "status_a": sa,
            "status_b": sb,
            "attempts_a": na,
            "attempts_b": nb,
            "duration_a": da,
            "duration_b": db,
            "delta": db - da if da is not None and db is not None else None,
        }
        # (the text lists the changed ones, and counts the others: `--all` lists them all)
        tasks.append(row | {"changed": changed(row)})

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
        # (the tasks not `changed`, and what that means: the text's count says it)
        "unchanged": {"tasks": sum(not t["changed"] for t in tasks), "means": CHANGE_WORDS},
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
