"""A dry run: the schedule a plan would follow if every task took its estimate.

Same rules as the runner (phases in order, needs, agents' capability and slots, resources,
priority then longest remaining path), on a simulated clock; nothing is started. From a run's
`Progress` it simulates only what is left (the forecast, engine/forecast.py): ended tasks are
done, running ones hold their slots for what is left of their estimate, and the agents have
the slots, readiness and priorities the run has now.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from phasegate.engine.plan.dag import Graph, build
from phasegate.engine.plan.scheduler import Scheduler

if TYPE_CHECKING:  # (annotations only: a front end reads forecasts without the model)
    from phasegate.engine.plan.model import Plan
    from phasegate.engine.watch.history import Learned

CACHE_MAX = 1000  # phase lengths kept by a caller's cache before it starts again


class Slot(msgspec.Struct, frozen=True):
    task: str
    phase: str
    agent: str
    ready: float  # when its needs were met (seconds from the start)
    start: float
    end: float
    estimated: bool  # False: no estimate in the plan, the default was used
    waited_for: str = ""  # what it waited for once its needs were met: its agent or a resource

    @property
    def waited(self) -> float:
        return self.start - self.ready


class Schedule(msgspec.Struct):
    slots: list[Slot] = []
    phases: list[tuple[str, float, float]] = []  # id, start, end
    critical_path: list[str] = []
    unplaceable: list[str] = []  # no agent can take them
    total: float = 0.0  # the last phase's end, and the wait for its gates


class Progress(msgspec.Struct):
    """Where a run stands: the simulation starts from here (time 0 is now)."""

    done: set[str]  # tasks that will not run again
    running: dict[str, tuple[str, float]]  # task -> (agent, seconds of its estimate left)
    estimate: dict[str, float]  # task -> its estimate now (from history or the plan)
    slots: dict[str, int]  # agent -> its slots now
    not_ready: set[str] = set()  # agents that cannot take tasks
    priority: dict[str, int] = {}  # live priorities, those not 0
    guessed: int = 0  # tasks left with no estimate (a default stands in)
    failed: frozenset[str] = frozenset()  # tasks that failed in the run: no retries expected


def simulate(
    plan: Plan,
    graph: Graph | None = None,
    progress: Progress | None = None,
    detail: bool = True,
    template: Scheduler | None = None,
    waits: dict[str, float] | None = None,
    standby: set[str] | None = None,
    cache: dict[tuple[object, ...], float] | None = None,
    learned: Mapping[str, float] | None = None,
) -> Schedule:
    """The schedule. `detail=False` leaves out the slots and the critical path (the forecast
    needs only the phases' ends); `template`: a scheduler of this plan to start from a copy of
    (building one walks every task); `waits`: phase -> how long its gates are expected to wait
    for a decision (learned from history), time before the next phase starts; `standby`:
    fallback tasks not (yet) called for, left out as if they had ended; `cache`: kept by the
    caller between forecasts of one run, the simulated length of each phase not started yet
    (phases are barriers: such a phase starts with every slot free, so its length depends only
    on the agents' slots and readiness, priorities and the fallbacks standing by); `learned`:
    task -> the estimate learned from earlier runs, in place of the plan's."""
    waits = waits or {}
    learned = learned or {}
    graph = graph or build(plan, learned)
    estimated = (
        {t.id: t.estimate is not None or t.id in learned for _, t in plan.tasks()} if detail else {}
    )
    sched = template.fresh() if template is not None else Scheduler.for_plan(plan, graph)
    duration = graph.estimate
    done: set[str] = set()
    if progress is not None:
        _resume_from(progress, sched)
        duration, done = {**duration, **progress.estimate}, set(progress.done)
    done |= standby or set()
    out = Schedule()
    clock = 0.0
    context = _context(progress, standby) if cache is not None and not detail else None
    for phase_id, ids in graph.phases:
        start = clock
        ready_at: dict[str, float] = {}
        running: list[tuple[float, str, str]] = []
        # ended before now (its gate may still wait); a phase of no tasks is still one of the
        # dry run's, of no length (its gates are printed under it)
        if done.issuperset(ids) and (ids or progress is not None):
            clock += waits.get(phase_id, 0.0)
            continue
        key = None
        if context is not None and progress is not None and _untouched(ids, progress):
            key = (phase_id, context)
            if cache is not None and key in cache:
                clock += cache[key]
                out.phases.append((phase_id, start, clock))
                clock += waits.get(phase_id, 0.0)
                continue
        ids = [t for t in ids if t not in done]
        waiting = {}
        for t in ids:
            waiting[t] = len([n for n in graph.needs[t] if n not in done])
        for t in ids:
            if progress is not None and t in progress.running:
                agent, left_s = progress.running[t]
                sched.occupy(t, agent)
                heapq.heappush(running, (clock + left_s, t, agent))
                if detail:
                    out.slots.append(Slot(t, phase_id, agent, clock, clock, clock + left_s, True))
            elif waiting[t] == 0:
                _queue(t, clock, sched, ready_at, out)
        left = {t for t in ids if t not in out.unplaceable}
        freed_res: dict[str, int] = {}  # resource -> capacity the tasks ending now freed
        free_res: dict[str, int] = {}  # those resources' free capacity before they ended
        while left:
            if detail and freed_res:
                free_res = {r: sched.free_res[r] - n for r, n in freed_res.items()}
            for t, agent in sched.take():
                end = clock + duration[t]
                heapq.heappush(running, (end, t, agent))
                if detail:
                    why = ""
                    if ready_at[t] < clock:
                        why = _waited_for(agent, sched.uses[t], free_res)
                    slot = Slot(t, phase_id, agent, ready_at[t], clock, end, estimated[t], why)
                    out.slots.append(slot)
            freed_res, free_res = {}, {}
            if not running:
                break  # what is left can never be placed
            clock = running[0][0]
            while running and running[0][0] == clock:  # every task ending now, then place
                _, t, agent = heapq.heappop(running)
                sched.release(t, agent)
                if detail:
                    for r, n in sched.uses[t].items():
                        freed_res[r] = freed_res.get(r, 0) + n
                done.add(t)
                left.discard(t)
                for d in graph.dependents[t]:
                    if d in waiting:
                        waiting[d] -= 1
                        if waiting[d] == 0 and not _queue(d, clock, sched, ready_at, out):
                            left.discard(d)
        out.phases.append((phase_id, start, clock))
        if key is not None and cache is not None:
            if len(cache) > CACHE_MAX:
                cache.clear()
            cache[key] = clock - start
        clock += waits.get(phase_id, 0.0)
    out.total = clock
    if detail:
        out.critical_path = _critical(out.slots, graph, sched.uses)
    return out


def _context(progress: Progress | None, standby: set[str] | None) -> tuple[object, ...]:
    """What a phase not started yet depends on besides its own tasks."""
    if progress is None:
        return (frozenset(standby or ()),)
    return (
        tuple(sorted(progress.slots.items())),
        frozenset(progress.not_ready),
        tuple(sorted(progress.priority.items())),
        frozenset(standby or ()),
        progress.failed,  # (a task that has failed is no longer expected its retries' time)
    )


def _untouched(ids: list[str], progress: Progress) -> bool:
    """None of these tasks has run or runs: their phase has not started."""
    done, running = progress.done, progress.running
    return not any(t in done or t in running for t in ids)


def _resume_from(progress: Progress, sched: Scheduler) -> None:
    """The scheduler as the run has it now: live slots, readiness, priorities."""
    for agent, slots in progress.slots.items():
        if agent in sched.slots and slots != sched.slots[agent]:
            sched.set_slots(agent, slots)
    for agent in progress.not_ready:
        if agent in sched.slots:
            sched.set_ready(agent, False)
    # every task at its live priority: one set back to 0 drops its plan's priority too
    live = progress.priority
    for task, (negated, rank, order) in sched.key.items():
        if -negated != live.get(task, 0):
            sched.key[task] = (-live.get(task, 0), rank, order)


def _waited_for(agent: str, uses: Mapping[str, int], free_res: Mapping[str, int]) -> str:
    """What a task placed after its needs were met waited for: a resource it uses whose
    capacity was short until the tasks ending now freed some, else a slot of its agent."""
    for r, n in uses.items():
        if r in free_res and free_res[r] < n:
            return r
    return agent


def _critical(slots: list[Slot], graph: Graph, uses: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Walk back from the last task to end: each step, the task whose end let this one start
    (the need that ended last; for a task that waited after its needs were met, the task whose
    end freed the slot of its agent or the resource it waited for; else whatever closed the
    phase before)."""
    if not slots:
        return []
    by_task = {s.task: s for s in slots}
    by_end: dict[float, list[Slot]] = {}
    for s in slots:
        by_end.setdefault(round(s.end, 9), []).append(s)
    current = max(slots, key=lambda s: (s.end, -graph.order[s.task]))
    path = [current.task]
    seen = {current.task}
    while current.start > 0:
        needs = [by_task[n] for n in graph.needs[current.task] if n in by_task]
        before = []
        if current.waited > 1e-9:  # it waited for a slot or a resource another task held
            ended = [s for s in by_end.get(round(current.start, 9), []) if s.task not in seen]
            why = current.waited_for
            before = [
                s
                for s in ended
                if (s.agent == why if why == current.agent else uses.get(s.task, {}).get(why))
            ]
        if not before:  # the need that ended last, if its end is what this one waited for
            latest = max((s.end for s in needs), default=None)
            if latest is not None and abs(latest - current.ready) < 1e-9:
                before = [s for s in needs if s.end == latest and s.task not in seen]
        if not before:  # the phase before closed (and its gates' wait, if any, passed)
            earlier = [s for s in slots if s.end <= current.start + 1e-9 and s.task not in seen]
            latest = max((s.end for s in earlier), default=None)
            before = [s for s in earlier if s.end == latest]
        if not before:
            break
        current = max(before, key=lambda s: (s.end - s.start, -graph.order[s.task]))
        path.append(current.task)
        seen.add(current.task)
    path.reverse()
    return path


def _queue(t: str, now: float, sched: Scheduler, ready_at: dict[str, float], out: Schedule) -> bool:
    """Queue a task whose needs are met; False (and noted) when no agent can ever take it."""
    if not sched.candidates[t]:
        out.unplaceable.append(t)
        return False
    ready_at[t] = now
    sched.push(t)
    return True


def projected(plan: Plan, learned: Mapping[str, Learned]) -> Schedule:
    """The dry run's schedule, the one `phasegate plan` prints and the coordination report
    shows: estimates learned from earlier runs where there are some (the median attempt, and
    the time failed attempts took before it on average), each manual gate's median wait for a
    decision counted, fallback tasks standing by."""
    from phasegate.engine.plan.fallbacks import fallbacks, risk_fallbacks
    from phasegate.engine.watch.history import estimates, gate_waits

    expected = gate_waits(dict(learned))
    after: dict[str, float] = {}  # phase -> the waits of its gates
    for gate in plan.gates:
        if gate.approval == "manual" and gate.id in expected:
            after[gate.after] = after.get(gate.after, 0.0) + expected[gate.id]
    standby = set(fallbacks(plan).values()) | set(risk_fallbacks(plan))
    return simulate(plan, waits=after, standby=standby, learned=estimates(dict(learned)))
