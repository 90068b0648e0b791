"""What a run's events say, gathered in one pass for reports, metrics and comparisons: every
attempt with its agent and times, phases, gates and decisions, risks, notes, forecasts."""

from __future__ import annotations

from typing import Any

import msgspec

from phasegate.engine.model import events as ev
from phasegate.engine.model import statuses
from phasegate.engine.model.fold import apply
from phasegate.engine.model.state import RunState

BAD = frozenset(s.value for s in statuses.BAD)  # the same bad ends as the engine, by name
INTERRUPTED = "interrupted"  # an attempt the engine's death cut short (stopped at the take-over)
FAILED_ENDS = frozenset({"failed", "timed_out"})  # an attempt that failed (not one stopped)
NOT_REACHED = "not reached"  # a gate whose phase never ended, in a run that has ended
NOT_DECIDED = "not decided"  # a gate still open when the run ended (cancelled, say)
ENDED = frozenset({"succeeded", "failed", "cancelled"})  # (interrupted: `resume` goes on)
DECIDED = frozenset({"passed", "rejected"})  # the ends of a manual gate's wait for people
# "on time": within the estimate (or timebox) give or take this share of it or these seconds,
# whichever is more (a task of 4.004 s against 4 s is on time: the estimate is no stopwatch)
ON_TIME_SHARE = 0.10
ON_TIME_SECONDS = 0.5
ON_TIME_WORDS = "within 10% or 0.5 s of their estimate or timebox, whichever is more"


def on_time(took: float, planned: float) -> bool:
    """Did something that took `took` seconds keep to the `planned` ones (with the tolerance)?"""
    return took <= planned + max(ON_TIME_SHARE * planned, ON_TIME_SECONDS)


class Attempt(msgspec.Struct):
    task: str
    number: int
    agent: str
    start: float
    end: float | None = None
    status: str = "running"
    exit_code: int | None = None
    reason: str = ""

    @property
    def duration(self) -> float:
        return (self.end or self.start) - self.start


class Decision(msgspec.Struct):
    gate: str
    decision: str
    user: str
    host: str
    reason: str
    ts: float


class Rejection(msgspec.Struct):
    """A gate that closed other than passed, and the phase it sent the run back to (if any)."""

    gate: str
    attempt: int
    outcome: str  # rejected | failed
    reason: str
    ts: float
    rewound_to: str = ""


class Facts(msgspec.Struct):
    run_id: str = ""
    state: RunState = msgspec.field(default_factory=RunState)
    attempts: list[Attempt] = []
    ready_at: dict[str, float] = {}  # task -> first time it was ready
    queue_wait: dict[str, float] = {}  # task -> ready to first start, less `held` time
    estimates: dict[str, float | None] = {}
    needs: dict[str, tuple[str, ...]] = {}
    slots: dict[str, int] = {}  # agent -> slots at the start
    gate_open: dict[str, list[tuple[float, float | None, str]]] = {}
    decisions: list[Decision] = []
    refused: list[dict[str, Any]] = []
    rejections: list[Rejection] = []  # in the order they happened
    risks: list[ev.RiskRaised] = []
    forecasts: list[tuple[float, dict[str, Any]]] = []
    last: dict[str, Attempt] = {}  # each task's newest attempt
    tests: dict[str, ev.TaskResults] = {}  # each task's newest results
    phase_of: dict[str, str] = {}  # task -> its phase
    phase_order: list[str] = []  # the phases, in run order
    down: list[tuple[float, float]] = []  # engine dead: last seen, take-over
    seen: float | None = None  # the engine's last heartbeat (a run not ended: so far)
    passes: dict[str, list[tuple[float, float | None]]] = {}  # phase -> each start, its end
    delays: dict[tuple[str, int], float] = {}  # (task, attempt) -> the retry delay before it
    rerun: dict[str, float] = {}  # task -> when a gate's rejection last sent it back to run
    undecided: set[str] = set()  # gates an older engine closed `rejected` as the run stopped
    # each pause (by a person, a budget, a risk rule) and its resume: "" the run, else a phase
    paused: dict[str, list[tuple[float, float | None]]] = {}
    _running: dict[str, Attempt] = {}
    _risk_open: dict[str, int] = {}  # a risk's key -> its entry in `risks`, until it clears
    not_applied: set[str] = set()  # changes approved too late: the run had moved on (refused)

    def add(self, e: ev.Event) -> None:
        """Take one more event (already folded into `state` by whoever holds it)."""
        f, running = self, self._running
        if isinstance(e, ev.RunStarted | ev.PlanAmended):  # (an amendment: the whole shape)
            if isinstance(e, ev.PlanAmended):
                f.estimates, f.needs, f.phase_of = {}, {}, {}
            for t in e.tasks:
                f.estimates[t["id"]] = t.get("estimate")
                f.needs[t["id"]] = tuple(t.get("needs") or ())
                f.phase_of[t["id"]] = str(t.get("phase") or "")
            f.phase_order = [str(p.get("id")) for p in e.phases]
            slots = {a["id"]: int(a.get("slots", 1)) for a in e.agents}
            f.slots = slots if isinstance(e, ev.RunStarted) else {**f.slots, **slots}
        elif isinstance(e, ev.TaskReady):
            f.ready_at.setdefault(e.task, e.ts)
        elif isinstance(e, ev.TaskRetrying):
            f.delays[(e.task, e.attempt)] = e.delay
        elif isinstance(e, ev.PhaseStarted):  # (again after a gate sent the run back to it)
            f.passes.setdefault(e.phase, []).append((e.ts, None))
        elif isinstance(e, ev.PhaseFinished) and f.passes.get(e.phase):
            began, _ = f.passes[e.phase][-1]
            f.passes[e.phase][-1] = (began, e.ts)
        elif isinstance(e, ev.TaskStarted):
            a = Attempt(e.task, e.attempt, e.agent, e.ts)
            f.attempts.append(a)
            running[e.task] = f.last[e.task] = a
            if e.task not in f.queue_wait and e.task in f.ready_at:
                f.queue_wait[e.task] = f.held(e.task, f.ready_at[e.task], e.ts)
        elif isinstance(e, ev.TaskFinished) and e.task in running:
            a = running.pop(e.task)
            a.end, a.status, a.exit_code, a.reason = e.end, e.status, e.exit_code, e.reason
        elif isinstance(e, ev.TaskSkipped) and e.task in running:
            a = running.pop(e.task)
            a.end, a.status, a.reason = e.ts, "skipped", e.reason
        elif isinstance(e, ev.RunRecovered):
            self._recovered(e)
        elif isinstance(e, ev.GateOpened):
            f.gate_open.setdefault(e.gate, []).append((e.ts, None, ""))
            f.undecided.discard(e.gate)
        elif isinstance(e, ev.GateClosed) and f.gate_open.get(e.gate):
            opened, _, _ = f.gate_open[e.gate][-1]
            if left_undecided(f.state, e):  # (no decision: as a gate the stop leaves open)
                f.gate_open[e.gate][-1] = (opened, e.ts, NOT_DECIDED)
                f.undecided.add(e.gate)
                return
            f.gate_open[e.gate][-1] = (opened, e.ts, e.outcome)
            if e.outcome != "passed":
                n = len(f.gate_open[e.gate])
                f.rejections.append(Rejection(e.gate, n, e.outcome, e.reason, e.ts))
        elif isinstance(e, ev.PhaseRewound):
            if e.phase in f.phase_order:  # (its tasks and the later phases' run anew)
                again = set(f.phase_order[f.phase_order.index(e.phase) :])
                f.rerun.update((t, e.ts) for t, p in f.phase_of.items() if p in again)
            for r in reversed(f.rejections):
                if r.gate == e.gate:
                    r.rewound_to = e.phase
                    break
        elif isinstance(e, ev.GateVoted):
            f.decisions.append(Decision(e.gate, e.decision, e.user, e.host, e.reason, e.ts))
        elif isinstance(e, ev.GateRefused):
            f.refused.append({"gate": e.gate, "user": e.user, "why": e.why, "ts": e.ts})
        elif isinstance(e, ev.RunPaused | ev.RunResumed):
            spans = f.paused.setdefault(e.phase, [])
            if isinstance(e, ev.RunPaused) and (not spans or spans[-1][1] is not None):
                spans.append((e.ts, None))
            elif isinstance(e, ev.RunResumed) and spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], e.ts)
        elif isinstance(e, ev.RiskRaised):
            at = f._risk_open.get(e.key)
            if at is not None:  # said again while open (engine/watch/risks): one risk, at its
                if _rank(e.severity) >= _rank(f.risks[at].severity):  # worst, as it was said
                    f.risks[at] = e
            else:
                f._risk_open[e.key] = len(f.risks)
                f.risks.append(e)
        elif isinstance(e, ev.RiskCleared):
            f._risk_open.pop(e.key, None)
        elif isinstance(e, ev.ChangeClosed) and e.outcome == "refused":
            f.not_applied.add(e.change)
        elif isinstance(e, ev.TaskResults):
            f.tests[e.task] = e
        elif (e.name if isinstance(e, ev.UnknownEvent) else e.type).startswith("forecast."):
            f.forecasts.append((e.ts, dict(e.data())))

    def _recovered(self, e: ev.RunRecovered) -> None:
        """A take-over: the dead engine's attempts that were stopped (to run again) or skipped
        did not run to their end. They are neither failures nor durations: `interrupted`."""
        if e.last_seen is not None and e.last_seen < e.ts:
            self.down.append((e.last_seen, e.ts))
        for entry in e.tasks:
            task = str(entry.get("task"))
            if entry.get("action") == "adopted" or task not in self._running:
                continue
            a = self._running.pop(task)
            a.end, a.status, a.reason = e.ts, INTERRUPTED, "stopped when the engine was taken over"
            ended = [x for x in self.attempts if x.task == task and x.status != INTERRUPTED]
            if ended:
                self.last[task] = ended[-1]
            else:
                self.last.pop(task, None)

    def decided(self, gate: str) -> bool:
        """Did people (or its timeout rule) decide the gate's last opening? Not one the run's
        stop left open (nor one an earlier engine closed `rejected` then: `undecided`)."""
        g = self.state.gates.get(gate)
        ok = g is not None and g.status.value in DECIDED and g.closed_at is not None
        return ok and gate not in self.undecided

    def gate_waits(self) -> dict[str, float]:
        """Each gate's wait for people in the run, as the dry run and the forecast expect it
        (history, engine/report/knowledge.py): every opening's, from its opening to its
        decision (a gate rejected, then opened again when its phase ran again or after an
        amendment, waited each time), for a gate whose last opening was decided (`decided`);
        an opening the run's stop left undecided adds nothing."""
        out: dict[str, float] = {}
        for gate, spans in self.gate_open.items():
            if self.decided(gate):
                out[gate] = sum(
                    closed - opened
                    for opened, closed, outcome in spans
                    if closed is not None and outcome != NOT_DECIDED
                )
        return out

    def gate_status(self, gate: str) -> str:
        """A gate's status as a report states it: in a run that has ended, one still waiting
        for its phase was never reached, one still open (or closed by the stop: `undecided`)
        never decided."""
        status, ended = self.state.gates[gate].status.value, self.state.status.value in ENDED
        if gate in self.undecided or (ended and status == "open"):
            return NOT_DECIDED
        return NOT_REACHED if ended and status == "waiting" else status

    def alive(self, start: float, end: float) -> float:
        """Seconds from start to end, less the time the run's engine was dead."""
        dead = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.down)
        return end - start - dead

    def held(self, task: str, ready: float, start: float) -> float:
        """Seconds a task waited from ready to start for nothing but a slot: not while the run
        or its phase was paused (by a person, a budget, a risk rule's pause, ask or timebox;
        one still paused: to the run's end), nor while the engine was dead."""
        spans = [*self.paused.get("", []), *self.paused.get(self.phase_of.get(task, ""), [])]
        off = [(a, self.end if b is None else b) for a, b in spans] + self.down
        return start - ready - covered(off, ready, start)

    def ran(self) -> dict[str, int]:
        """How many attempts of each task ran to their end (a take-over's interruption is not
        one); counted in one pass, for every task at once."""
        counts: dict[str, int] = {}
        for a in self.attempts:
            if a.status != INTERRUPTED:
                counts[a.task] = counts.get(a.task, 0) + 1
        return counts

    @property
    def start(self) -> float:
        return self.state.started_at or 0.0

    @property
    def end(self) -> float:
        """The run's end; while it goes (or once interrupted), its last sign of life (newest
        event, attempt end or heartbeat): as far as the run knows."""
        if self.state.finished_at is not None:
            return self.state.finished_at
        ends = [a.end for a in self.attempts if a.end is not None]
        return max([self.start, self.state.last_seen(self.seen) or self.start, *ends])

    def final(self, task: str) -> Attempt | None:
        """The task's newest attempt, leaving out those a take-over interrupted."""
        return self.last.get(task)

    def retried(self, task: str) -> float:
        """The time the task's failed (or timed-out) attempts took before its newest one: each
        one's own time and the retry delay after it. Counted back to the first attempt that
        did not fail, past those a take-over interrupted, and never before a gate's rejection
        sent its phase back to run; the time the engine was dead, the run paused or an
        operator took to retry is not."""
        return self.all_retried().get(task, 0.0)

    def all_retried(self) -> dict[str, float]:
        """`retried` of every task that has a newest attempt, in one pass over the attempts."""
        earlier: dict[str, list[Attempt]] = {}
        for a in self.attempts:
            earlier.setdefault(a.task, []).append(a)
        out: dict[str, float] = {}
        for task, tried in earlier.items():
            final = self.final(task)
            if final is None:
                continue
            lost = 0.0
            since = self.rerun.get(task, float("-inf"))  # (not the failures of a pass before)
            for a in reversed([x for x in tried if since <= x.start < final.start]):
                if a.status == INTERRUPTED:
                    continue
                if a.status not in FAILED_ENDS:  # (the ends a retry follows)
                    break
                lost += a.duration + self.delays.get((task, a.number + 1), 0.0)
            out[task] = lost
        return out


def _rank(severity: str) -> int:
    return statuses.SEVERITIES.index(severity) if severity in statuses.SEVERITIES else -1


def covered(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """How much of start..end the spans cover (where they overlap: once)."""
    total, reach = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reach), min(b, end)
        total, reach = (total + b - a, b) if b > a else (total, reach)
    return total


def ended_first(reason: str) -> str:
    """Why a gate was not decided (its words in `gates`, `audit` and the reports)."""
    return f"the run ended first: {reason}" if reason else "the run ended first"


def left_undecided(state: RunState, e: ev.GateClosed) -> bool:
    """Was this closure (folded into `state` already) the run's stop, not a decision? Earlier
    engines closed a gate still waiting as the run stopped: `rejected`, with the stop's reason,
    though nobody rejected it (no rejection among its votes; a timeout rule gives its own
    reason). Such a gate was left undecided, as engines now leave it (open)."""
    g, stop = state.gates.get(e.gate), bool(state.cancelling) and e.reason == state.cancelling
    return e.outcome == "rejected" and stop and g is not None and not g.rejected


def gather(run_id: str, events: list[ev.Event]) -> Facts:
    f = Facts(run_id)
    for e in events:
        apply(f.state, e)
        f.add(e)
    return f
