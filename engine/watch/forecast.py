"""The forecast: when the run and each phase still under way will end, by simulating the work
left on the agents' slots (engine/simulate.py) from where the run stands now.

Each task left takes its estimate: the median of its earlier successful runs when history has
them, else the plan's `estimate`, else a default (counted in `guessed`). A running task holds its
slot for what is left of its estimate, and once it nears or passes it, for a quarter of what it
has run so far (so the forecast grows while it overruns). A task that failed and waits for its
retry has its backoff left to wait, then one more attempt, left. A held phase
or a paused run is forecast as if it went on now. A manual gate is expected to wait as long as
it did in earlier runs (the median; nothing without history), less what it has waited already.
The runner records a forecast whenever it moves, so that reports can state how accurate it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from phasegate.engine.model.state import GateState, RunState
from phasegate.engine.model.statuses import TERMINAL, AgentStatus, TaskStatus
from phasegate.engine.plan.dag import DEFAULT_ESTIMATE, Graph
from phasegate.engine.plan.scheduler import Scheduler
from phasegate.engine.watch.simulate import Progress, simulate

if TYPE_CHECKING:  # (annotations only: a front end reads forecasts without the model)
    from phasegate.engine.plan.model import Plan

OVERDUE = 1.0  # seconds still expected, at least, of a task near or past its estimate
OVERRUN = 0.25  # of what a task has run, still expected of it once past its estimate


class Forecast(msgspec.Struct, frozen=True):
    eta: float  # seconds from now to the run's end
    phases: dict[str, float]  # phase not ended -> seconds from now to its end
    guessed: int  # tasks left with no estimate (the default was used)


def progress(state: RunState, now: float, retry_waits: dict[str, float] | None = None) -> Progress:
    """Where the run stands, as the simulation needs it; `retry_waits`: task -> the seconds
    its next attempt still waits for (the backoff after a failure)."""
    done: set[str] = set()
    running: dict[str, tuple[str, float]] = {}
    estimate: dict[str, float] = {}
    priority: dict[str, int] = {}
    failed: set[str] = set()  # (no retries expected of them: the phase cache's key says so)
    guessed = 0
    for t in state.tasks.values():
        if t.failures:
            failed.add(t.id)
        if t.status in TERMINAL:
            done.add(t.id)
            continue
        took = t.estimate
        if took is None:
            took, guessed = DEFAULT_ESTIMATE, guessed + 1
        # until it fails in this run, its earlier runs' failed attempts count, on average (a
        # failure now runs its retries: what is left is then one more attempt, after what is
        # left of its backoff)
        extra = t.retry_s if not t.failures else (retry_waits or {}).get(t.id, 0.0)
        estimate[t.id] = took + extra
        if t.priority:  # (0, the default, is left out: the simulation reads a missing one as 0)
            priority[t.id] = t.priority
        if t.status is TaskStatus.RUNNING and t.agent is not None:
            began = t.attempt_started_at or t.started_at  # (what is left of this attempt)
            spent = now - began if began is not None else 0.0
            # past its estimate, a task is expected to run on for a quarter of what it has
            # run so far: the forecast grows as it overruns, instead of saying "a moment" for
            # the whole of a task that runs ten times its estimate (before it, what is left of
            # the estimate: a task on time is not forecast late as it nears its end)
            late = OVERRUN * spent if spent > took else 0.0
            left = max(took - spent, late, min(OVERDUE, took))
            running[t.id] = (t.agent, left + extra)
    slots = {a.id: a.slots for a in state.agents.values()}
    not_ready = {a.id for a in state.agents.values() if a.status is AgentStatus.NOT_READY}
    return Progress(done, running, estimate, slots, not_ready, priority, guessed, frozenset(failed))


def waits(state: RunState, expected: dict[str, float], now: float) -> dict[str, float]:
    """phase -> the time its gates not yet decided are expected to wait (`expected`: gate ->
    the median of its earlier runs' waits, each run's openings together: what it waited in
    this run's earlier openings, rejected or rewound, is spent of it)."""
    out: dict[str, float] = {}
    for g in state.gates.values():
        if g.id not in expected or g.status in ("passed", "rejected", "failed"):
            continue
        left = expected[g.id] - g.waited
        if g.status == "open" and g.opened_at is not None:
            left -= now - g.opened_at
        left = max(left, 0.0)
        out[g.after] = out.get(g.after, 0.0) + left
    return out


def forecast(
    plan: Plan,
    graph: Graph,
    state: RunState,
    now: float,
    template: Scheduler | None = None,
    gate_waits: dict[str, float] | None = None,
    standby: set[str] | None = None,
    cache: dict[tuple[object, ...], float] | None = None,
    retry_waits: dict[str, float] | None = None,
) -> Forecast:
    """The run's and its phases' ends, in seconds from `now`; `template`: the plan's scheduler
    as built at the start (saves building one at every forecast); `gate_waits`: gate -> the
    median of its earlier waits for a decision; `standby`: fallbacks not called for (yet);
    `cache`: kept between forecasts of one run (the length of each phase not started yet);
    `retry_waits`: task -> the seconds its next attempt still waits for."""
    where = progress(state, now, retry_waits)
    expect = waits(state, gate_waits, now) if gate_waits else None
    schedule = simulate(
        plan,
        graph,
        where,
        detail=False,
        template=template,
        waits=expect,
        standby=standby,
        cache=cache,
    )
    phases = {phase: end for phase, _, end in schedule.phases}
    return Forecast(schedule.total, phases, where.guessed)


def seconds_left(state: RunState, now: float, phase: str = "") -> float | None:
    """Seconds until the run (or `phase`) ends, counted down from the last recorded forecast
    (not while it says the time left holds: `still`); None when there is no forecast, or the
    run or phase has ended."""
    f = state.forecast
    if not f or state.finished_at is not None:
        return None
    left = f["eta"] if not phase else f["phases"].get(phase)
    if left is None:
        return None
    if f.get("still"):
        return max(float(left), 0.0)
    return max(float(left) - (now - float(f["at"])), 0.0)


def waiting_gate(state: RunState) -> GateState | None:
    """The manual gate that has waited longest for people (open, the run not ended)."""
    if state.finished_at is not None:
        return None
    open_ = [g for g in state.gates.values() if g.status == "open" and g.approval == "manual"]
    return min(open_, key=lambda g: g.opened_at or 0.0, default=None)


def counted_to(state: RunState, now: float, gate: GateState | None) -> float:
    """The moment the forecast's time left is counted down to: `now`, but while `gate` (a
    manual gate) waits for people, the moment it opened (no earlier than the forecast): what is
    left once it is decided (the dashboard's header and phase panel, and `show`, count so)."""
    if gate is None:
        return now
    at = float(state.forecast["at"]) if state.forecast else now
    return max(at, min(now, gate.opened_at or now))
