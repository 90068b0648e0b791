"""The fold's handlers for the work (engine/model/fold.py dispatches to them): the run's course,
its phases, tasks and agents, as the engine drives them and an operator steers them (pause,
slots, priorities, a reset).

Each handler updates the RunState it is given from one event; none does I/O or reads the clock.
`read_enum` is shared with the oversight's handlers (engine/model/fold_oversight.py).
"""

from __future__ import annotations

from typing import TypeVar

from phasegate.engine.model import events as ev
from phasegate.engine.model.state import (
    AgentState,
    GateState,
    LostAttempt,
    PhaseState,
    RunState,
    TaskState,
)
from phasegate.engine.model.statuses import (
    AgentStatus,
    GateStatus,
    PhaseStatus,
    RunStatus,
    Severity,
    TaskStatus,
)

E = TypeVar("E", TaskStatus, RunStatus, PhaseStatus, GateStatus, Severity)


def read_enum(kind: type[E], value: str, s: RunState, where: str) -> E:
    """A stored value as its enum; one this phasegate does not know becomes UNKNOWN, and the
    fold reports it in `anomalies` instead of raising."""
    try:
        return kind(value)
    except ValueError:
        s.anomalies.append(f"{where}: unknown {kind.__name__} {value!r}")
        return kind("unknown")


def run_started(s: RunState, e: ev.RunStarted) -> None:
    s.run_id, s.plan_name, s.plan_path = e.run_id, e.plan_name, e.plan_path
    s.user, s.host, s.operators = e.user, e.host, list(e.operators)
    s.repo, s.base_commit = e.repo, e.base_commit
    s.feedback_plan = dict(e.feedback)
    s.status, s.started_at = RunStatus.RUNNING, e.ts
    for p in e.phases:
        s.phases[p["id"]] = PhaseState(p["id"], p.get("title") or "", p.get("timebox"))
    for t in e.tasks:
        s.tasks[t["id"]] = TaskState(
            id=t["id"],
            phase=t["phase"],
            agent=t.get("agent"),
            capability=t.get("capability"),
            needs=tuple(t.get("needs") or ()),
            estimate=t.get("estimate"),
            p90=t.get("p90"),
            retry_s=float(t.get("retry_s") or 0.0),
            priority=int(t.get("priority") or 0),
        )
    for a in e.agents:
        s.agents[a["id"]] = AgentState(a["id"], int(a.get("slots", 1)))
    for g in e.gates:
        s.gates[g["id"]] = GateState(
            g["id"],
            g["after"],
            g.get("approval", "manual"),
            tuple(g.get("approvers") or ()),
            int(g.get("quorum", 1)),
            bool(g.get("forbid_self_approval", False)),
        )


def agent_probed(s: RunState, e: ev.AgentProbed) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.status = AgentStatus.IDLE if e.ready else AgentStatus.NOT_READY
        agent.detail = e.detail


def agent_reached(s: RunState, e: ev.AgentReached) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.host, agent.rtt_ms = e.host, e.rtt_ms if e.ok else None
        agent.unreachable = "" if e.ok else e.detail or "unreachable"


def phase_started(s: RunState, e: ev.PhaseStarted) -> None:
    phase = s.phases.get(e.phase)
    if phase is not None:
        phase.status, phase.started_at = PhaseStatus.RUNNING, e.ts


def phase_finished(s: RunState, e: ev.PhaseFinished) -> None:
    phase = s.phases.get(e.phase)
    if phase is not None:
        status = read_enum(PhaseStatus, e.status, s, f"phase '{e.phase}'")
        phase.status, phase.finished_at = status, e.ts


# A task event naming a task that RunStarted did not list (a newer engine that adds tasks, a
# damaged database) is ignored, as events for unknown phases and agents are: the fold never
# raises on stored data, or one odd row would make a run impossible to show.


def task_ready(s: RunState, e: ev.TaskReady) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.status = TaskStatus.READY


def task_started(s: RunState, e: ev.TaskStarted) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    # attempts only grow: a late or replayed start of an older attempt does not rewind the count
    t.status, t.attempts, t.agent, t.pid, t.proc_started = (
        TaskStatus.RUNNING,
        max(t.attempts, e.attempt),
        e.agent,
        e.pid,
        e.proc_started,
    )
    if e.attempt == 1 or t.started_at is None:
        t.started_at = e.ts
    if e.attempt >= t.attempts:  # (a replayed start of an older attempt changes nothing)
        t.attempt_started_at = e.ts
    t.finished_at = t.exit_code = None
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.running.add(e.task)
        agent.status = AgentStatus.BUSY


def _release(s: RunState, t: TaskState) -> None:
    agent = s.agents.get(t.agent) if t.agent else None
    if agent is not None and t.id in agent.running:
        agent.running.discard(t.id)
        if not agent.running and agent.status is AgentStatus.BUSY:
            agent.status = AgentStatus.IDLE


def task_finished(s: RunState, e: ev.TaskFinished) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    if e.attempt >= 1 and t.status is TaskStatus.RUNNING and t.attempt_started_at is not None:
        t.ran_s += max(0.0, e.end - t.attempt_started_at)  # (what a seconds budget counts)
    t.status = read_enum(TaskStatus, e.status, s, f"task '{e.task}'")
    t.stopping = t.stop_reason = ""
    t.finished_at, t.exit_code, t.reason, t.pid = e.end, e.exit_code, e.reason, None
    t.lines += e.lines
    t.dropped += e.dropped
    if t.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT):
        t.failures += 1
    _lost(t, e)
    _release(s, t)


def _lost(t: TaskState, e: ev.TaskFinished) -> None:
    """What the task's attempts left running on hosts whose connection was lost: an attempt
    given up with its connection is kept; the next connection to a host stops those lost there
    before anything runs on it, so an attempt that ran (an exit code) on its agent's host, or
    was lost there later, clears them (stopping one again, say after a take-over, is harmless:
    a group already gone is left alone)."""
    if e.lost_on:
        kept = [x for x in t.lost if x.host != e.lost_on]
        t.lost = [*kept, LostAttempt(e.lost_on, e.attempt, e.lost_pgid, t.agent or "")]
    elif e.exit_code is not None and t.lost:
        t.lost = [x for x in t.lost if x.agent != t.agent]


def task_retrying(s: RunState, e: ev.TaskRetrying) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.READY, e.reason


def task_blocked(s: RunState, e: ev.TaskBlocked) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.BLOCKED, e.reason


def task_skipped(s: RunState, e: ev.TaskSkipped) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    t.status, t.reason = TaskStatus.SKIPPED, e.reason
    t.finished_at = e.ts
    t.stopping = t.stop_reason = ""
    _release(s, t)


def run_finished(s: RunState, e: ev.RunFinished) -> None:
    s.status = read_enum(RunStatus, e.status, s, "run")
    s.reason, s.finished_at = e.reason, e.ts
    s.question = {}


def slots_changed(s: RunState, e: ev.AgentSlotsChanged) -> None:
    agent = s.agents.get(e.agent)
    if agent is not None:
        agent.slots = e.slots


def run_paused(s: RunState, e: ev.RunPaused) -> None:
    if e.phase:
        phase = s.phases.get(e.phase)
        if phase is not None:
            phase.held, phase.held_by, phase.held_reason = True, e.by, e.reason
    elif s.status is RunStatus.RUNNING:
        s.status = RunStatus.PAUSED
    if e.ask and not e.phase:
        s.question = {"risk": e.ask, "by": e.by, "reason": e.reason, "at": e.ts}


def run_resumed(s: RunState, e: ev.RunResumed) -> None:
    if e.phase:
        phase = s.phases.get(e.phase)
        if phase is not None:
            phase.held, phase.held_by, phase.held_reason = False, "", ""
    elif s.status is RunStatus.PAUSED:
        s.status = RunStatus.RUNNING
    if not e.phase:
        s.question = {}


def run_recovered(s: RunState, e: ev.RunRecovered) -> None:
    if s.status is not RunStatus.PAUSED:  # a paused run stays paused, its question asked
        s.status, s.question = RunStatus.RUNNING, {}
    s.reason, s.finished_at = "", None
    for entry in e.tasks:
        t = s.tasks.get(str(entry.get("task")))
        if t is None:
            continue
        t.attempts = max(t.attempts, int(entry.get("attempt") or 0))
        action = entry.get("action")
        if action == "adopted":
            t.status = TaskStatus.RUNNING
            continue
        _release(s, t)
        t.pid = None
        host = str(entry.get("lost_on") or "")
        if host:  # its host out of reach at the take-over: it may run on there
            kept = [x for x in t.lost if x.host != host]
            number = int(entry.get("attempt") or t.attempts)
            t.lost = [*kept, LostAttempt(host, number, 0, t.agent or "")]
        if action == "skipped":
            t.status, t.reason, t.finished_at = TaskStatus.SKIPPED, "skipped on resume", e.ts
        else:
            t.status, t.reason = TaskStatus.PENDING, "rerun after the engine stopped"


def task_stopping(s: RunState, e: ev.TaskStopping) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.stopping, t.stop_reason = e.status, e.reason


def fallback_called(s: RunState, e: ev.FallbackCalled) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.called = True


def run_cancelling(s: RunState, e: ev.RunCancelling) -> None:
    s.cancelling = e.reason


def reprioritised(s: RunState, e: ev.TaskReprioritised) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.priority = e.priority


def task_reset(s: RunState, e: ev.TaskReset) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        t.status, t.reason, t.finished_at, t.exit_code = TaskStatus.PENDING, e.reason, None, None


def task_usage(s: RunState, e: ev.TaskUsage) -> None:
    t = s.tasks.get(e.task)
    if t is None:
        return
    for key in ("input_tokens", "output_tokens", "cached_tokens", "cost_usd", "turns"):
        t.usage[key] = t.usage.get(key, 0) + getattr(e, key)
        s.usage[key] = s.usage.get(key, 0) + getattr(e, key)
    if e.cost_source and e.cost_usd:  # (how the run's dollars were known: reported, priced)
        sources = s.usage.setdefault("cost_sources", [])
        if e.cost_source not in sources:
            sources.append(e.cost_source)
    if e.cost_source:
        t.usage["cost_source"] = e.cost_source
    t.session_id = e.session_id or t.session_id


def task_results(s: RunState, e: ev.TaskResults) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        keys = ("attempt", "passed", "failed", "skipped", "errors", "source", "error")
        t.results = {k: getattr(e, k) for k in keys} | {"failures": list(e.failures)}


def task_handoff(s: RunState, e: ev.TaskHandoff) -> None:
    t = s.tasks.get(e.task)
    if t is not None:
        keys = ("attempt", "branch", "commit", "files", "insertions", "deletions", "patch", "error")
        t.handoff = {k: getattr(e, k) for k in keys}
