"""Properties of the fold over plausible runs: stores keep it, it is pure, its counts add up."""

from __future__ import annotations

import asyncio
import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasegate.engine.model import events as ev
from phasegate.engine.model import snapshot
from phasegate.engine.model.fold import apply, project
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.store import MemoryStore, SQLiteStore, Store
from phasegate.engine.store.base import RunRow

NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,7}", fullmatch=True)
TEXT = st.text(max_size=12)
FINISH = ["succeeded", "failed", "timed_out", "cancelled"]
# type names no phasegate will register: they stand for events of a newer version
FUTURE = ["test.future-a", "test.future-b"]


@st.composite
def run_events(draw: st.DrawFn) -> list[ev.Event]:
    """A run as an engine could record it: RunStarted with tasks, then each task moving through
    ready, started, finished, retrying, blocked or skipped, with other events between."""
    tasks = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    phases = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    agents = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    clock = [draw(st.floats(1e9, 2e9))]

    def tick() -> float:
        clock[0] += draw(st.floats(0, 1e4))
        return clock[0]

    task_rows = []
    owner: dict[str, str] = {}
    for i, t in enumerate(tasks):
        owner[t] = draw(st.sampled_from(agents))
        task_rows.append(
            {
                "id": t,
                "phase": draw(st.sampled_from(phases)),
                "agent": owner[t],
                "capability": draw(st.none() | NAMES),
                "needs": draw(st.lists(st.sampled_from(tasks[:i]), unique=True, max_size=2))
                if i
                else [],
                "estimate": draw(st.none() | st.floats(0, 1e5)),
            }
        )
    events: list[ev.Event] = [
        ev.RunStarted(
            clock[0],
            draw(st.from_regex(r"[0-9a-f]{8}", fullmatch=True)),
            draw(TEXT),
            draw(TEXT),
            phases=[
                {"id": p, "title": draw(TEXT), "timebox": draw(st.none() | st.floats(1, 1e5))}
                for p in phases
            ],
            tasks=task_rows,
            agents=[
                {"id": a, "slots": draw(st.integers(1, 4)), "capabilities": draw(st.lists(NAMES))}
                for a in agents
            ],
            user=draw(TEXT),
            host=draw(TEXT),
        )
    ]
    status = dict.fromkeys(tasks, "pending")
    attempt = dict.fromkeys(tasks, 0)
    pid = [1000]

    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["task"] * 6 + ["agent", "phase", "future"]))
        if kind == "agent":
            events.append(
                ev.AgentProbed(tick(), draw(st.sampled_from(agents)), draw(st.booleans()))
            )
            continue
        if kind == "phase":
            phase = draw(st.sampled_from(phases))
            if draw(st.booleans()):
                events.append(ev.PhaseStarted(tick(), phase))
            else:
                events.append(ev.PhaseFinished(tick(), phase, draw(st.sampled_from(FINISH))))
            continue
        if kind == "future":
            payload = draw(st.dictionaries(NAMES, st.integers() | TEXT, max_size=3))
            version = draw(st.integers(1, 5))
            events.append(ev.UnknownEvent(tick(), draw(st.sampled_from(FUTURE)), payload, version))
            continue
        t = draw(st.sampled_from(tasks))
        moves = {
            "pending": ["ready", "blocked", "skipped"],
            "ready": ["started", "started", "blocked", "skipped"],
            "running": ["finished", "finished", "skipped"],
            "failed": ["retrying"],
            "timed_out": ["retrying"],
        }.get(status[t], [])
        if not moves:
            continue
        move = draw(st.sampled_from(moves))
        if move == "ready":
            events.append(ev.TaskReady(tick(), t))
            status[t] = "ready"
        elif move == "blocked":
            events.append(ev.TaskBlocked(tick(), t, draw(TEXT)))
            status[t] = "blocked"
        elif move == "skipped":
            events.append(ev.TaskSkipped(tick(), t, draw(TEXT), by=draw(TEXT)))
            status[t] = "skipped"
        elif move == "started":
            attempt[t] += 1
            pid[0] += 1
            events.append(
                ev.TaskStarted(tick(), t, attempt[t], owner[t], pid[0], pid[0], draw(TEXT))
            )
            status[t] = "running"
        elif move == "finished":
            status[t] = draw(st.sampled_from(FINISH))
            events.append(
                ev.TaskFinished(
                    tick(),
                    t,
                    attempt[t],
                    status[t],
                    draw(st.none() | st.integers(-15, 255)),
                    lines=draw(st.integers(0, 10**6)),
                    dropped=draw(st.integers(0, 10**3)),
                    reason=draw(TEXT),
                )
            )
        elif move == "retrying":
            events.append(
                ev.TaskRetrying(tick(), t, attempt[t] + 1, draw(st.floats(0, 60)), draw(TEXT))
            )
            status[t] = "ready"
    if draw(st.booleans()):
        events.append(
            ev.RunFinished(tick(), draw(st.sampled_from(["succeeded", "failed", "cancelled"])))
        )
    return events


def _plain(value: Any) -> Any:
    """Structs as dicts of their fields, all the way down; tuples, sets and enums kept as they
    are, so that a tuple where a list was (or a text where an enum was) still shows."""
    if isinstance(value, msgspec.Struct):
        return {f: _plain(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def canonical(state: RunState) -> dict[str, Any]:
    """Everything a RunState holds, as plain comparable values."""
    out: dict[str, Any] = _plain(state)
    for agent in out["agents"].values():
        agent["running"] = sorted(agent["running"])
    out["counts"] = state.counts()
    out["duration"] = state.duration
    out["task_durations"] = {k: t.duration for k, t in state.tasks.items()}
    return out


async def _round_trip(store: Store, events: list[ev.Event]) -> list[ev.Event]:
    try:
        await store.create_run(RunRow("r", "plan", "plan.yaml", "pending", 0.0))
        numbered = list(enumerate(events, 1))
        half = len(numbered) // 2  # in two batches, as a sink would write them
        await store.write_batch("r", numbered[:half])
        await store.write_batch("r", numbered[half:])
        return [e for _, e in await store.read_events("r")]
    finally:
        await store.close()


def _through_sqlite(events: list[ev.Event]) -> list[ev.Event]:
    async def go(path: str) -> list[ev.Event]:
        return await _round_trip(await SQLiteStore.open(path), events)

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(go(str(Path(tmp) / "data" / "phasegate.db")))


def _through_memory(events: list[ev.Event]) -> list[ev.Event]:
    return asyncio.run(_round_trip(MemoryStore(), events))


STORES: dict[str, Callable[[list[ev.Event]], list[ev.Event]]] = {
    "sqlite": _through_sqlite,
    "memory": _through_memory,
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=run_events(), store=st.sampled_from(sorted(STORES)))
def test_a_run_read_back_from_a_store_projects_to_the_same_state(
    events: list[ev.Event], store: str
) -> None:
    back = STORES[store](events)
    assert back == events
    assert canonical(project(back)) == canonical(project(events))


def _no_clock(*args: object) -> float:
    raise AssertionError("the fold read the clock")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=run_events())
def test_the_fold_is_deterministic_leaves_its_events_alone_and_never_reads_the_clock(
    events: list[ev.Event],
) -> None:
    before = copy.deepcopy(events)
    with (
        mock.patch("time.time", _no_clock),
        mock.patch("time.time_ns", _no_clock),
        mock.patch("time.monotonic", _no_clock),
        mock.patch("time.perf_counter", _no_clock),
    ):
        first = canonical(project(events))
        second = canonical(project(events))
        stepwise = RunState()
        for e in events:
            assert apply(stepwise, e) is stepwise
    assert first == second == canonical(stepwise)
    assert events == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=run_events())
def test_counts_add_up_attempts_never_fall_and_agents_run_what_runs(
    events: list[ev.Event],
) -> None:
    state = RunState()
    attempts: dict[str, int] = {}
    for e in events:
        apply(state, e)
        assert sum(state.counts().values()) == len(state.tasks)
        for tid, task in state.tasks.items():
            assert task.attempts >= attempts.get(tid, 0), tid
            attempts[tid] = task.attempts
        for aid, agent in state.agents.items():
            running_here = {
                t.id
                for t in state.tasks.values()
                if t.status is TaskStatus.RUNNING and t.agent == aid
            }
            assert agent.running == running_here, aid
    assert state.events == len(events)
    started = events[0]
    assert isinstance(started, ev.RunStarted)
    assert list(state.tasks) == [t["id"] for t in started.tasks]


# -- examples the properties stand on ---------------------------------------------------------


def _started(*tasks: str) -> ev.RunStarted:
    return ev.RunStarted(
        1.0,
        "r",
        "plan",
        "plan.yaml",
        phases=[{"id": "p"}],
        tasks=[{"id": t, "phase": "p", "agent": "a"} for t in tasks],
        agents=[{"id": "a"}],
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=run_events(), cut=st.integers(0, 40))
def test_folding_on_from_a_snapshot_equals_folding_from_the_first_event(
    events: list[ev.Event], cut: int
) -> None:
    # attach and resume start from the newest snapshot and fold only the events after it
    cut = min(cut, len(events))
    state = snapshot.load(snapshot.dump(project(events[:cut])))
    for e in events[cut:]:
        apply(state, e)
    assert state == project(events)


def test_events_for_a_task_the_run_does_not_have_are_ignored() -> None:
    # regression: the fold raised KeyError, so one odd row (a newer engine's added task, a
    # damaged database) made a whole run impossible to show
    state = project(
        [
            _started("a"),
            ev.TaskReady(2.0, "ghost"),
            ev.TaskStarted(3.0, "ghost", 1, "a", 10, 10),
            ev.TaskFinished(4.0, "ghost", 1, "failed", 1),
            ev.TaskRetrying(4.0, "ghost", 2, 1.0),
            ev.TaskBlocked(5.0, "ghost", "x"),
            ev.TaskSkipped(5.0, "ghost", "x"),
        ]
    )
    assert list(state.tasks) == ["a"] and state.events == 7
    assert state.agents["a"].running == set()


def test_a_late_start_of_an_older_attempt_does_not_rewind_the_count() -> None:
    state = project(
        [
            _started("a"),
            ev.TaskStarted(2.0, "a", 2, "a", 10, 10),
            ev.TaskStarted(3.0, "a", 1, "a", 11, 11),
        ]
    )
    assert state.tasks["a"].attempts == 2


@given(
    status=st.text(max_size=12),
    which=st.sampled_from(["task", "run", "phase", "gate", "risk"]),
)
def test_the_fold_never_raises_on_a_stored_value_it_does_not_know(status: str, which: str) -> None:
    # a newer phasegate, or a damaged database, may hold any string where a status goes
    started = ev.RunStarted(
        1.0,
        "r",
        "p",
        "p.yaml",
        phases=[{"id": "one"}],
        tasks=[{"id": "t", "phase": "one"}],
        agents=[{"id": "w"}],
        gates=[{"id": "g", "after": "one"}],
    )
    odd: ev.Event = {
        "task": ev.TaskFinished(2.0, "t", 1, status, 0),
        "run": ev.RunFinished(2.0, status),
        "phase": ev.PhaseFinished(2.0, "one", status),
        "gate": ev.GateClosed(2.0, "g", status),
        "risk": ev.RiskRaised(2.0, "k", "overrun", status, "task t", "late"),
    }[which]
    state = project([started, odd])
    value = {
        "task": lambda: state.tasks["t"].status,
        "run": lambda: state.status,
        "phase": lambda: state.phases["one"].status,
        "gate": lambda: state.gates["g"].status,
        "risk": lambda: state.risks["k"].severity,
    }[which]()
    assert value.value == status or value.value == "unknown"
    # an unknown value is explicit and reported, never silently taken for a known one
    assert (value.value == "unknown" and status != "unknown") == bool(state.anomalies)
    if state.anomalies:
        assert repr(status) in state.anomalies[0]
