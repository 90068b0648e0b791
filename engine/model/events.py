"""Every event a run emits: frozen structs with a stable type name, a version, a registry.

Events are past-tense facts and carry only plain values (str, int, float, bool, None, lists and
dicts of those). Their type name is written once here and never derived from the class path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import msgspec
import msgspec.structs
from msgspec import field

# one encoder for every event (json.dumps with options builds a new one per call)
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode

REGISTRY: dict[str, type[Event]] = {}
# (type name, stored version) -> function upgrading the stored data dict to the next version
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}

E = TypeVar("E", bound="Event")


def event(name: str, version: int = 1) -> Callable[[type[E]], type[E]]:
    """Register an event class under its stable type name."""

    def register(cls: type[E]) -> type[E]:
        if name in REGISTRY:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type = name
        cls.version = version
        cls._fields = tuple(f for f in cls.__struct_fields__ if f != "ts")
        REGISTRY[name] = cls
        return cls

    return register


class Event(msgspec.Struct, frozen=True, gc=False):
    """Base of every event. `ts` is the wall-clock time (epoch seconds) at which it happened.

    An event is a frozen msgspec Struct: its class is built in C (importing this module, which
    every run and every command does, compiles no generated method for its 46 classes), and an
    event holds only plain values, never itself, so the garbage collector need not track it
    (`gc=False`). Equality, hash and repr compare and show the fields in order, as a frozen
    dataclass's would.
    """

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    _fields: ClassVar[tuple[str, ...]] = ()

    ts: float

    def data(self) -> dict[str, Any]:
        """The event's own fields as plain values (without `ts`)."""
        return {name: getattr(self, name) for name in self._fields}

    def to_json(self) -> str:
        # ensure_ascii: a lone surrogate (an undecodable byte smuggled in through os.environ or
        # a file name) stays a JSON escape instead of failing to encode as UTF-8 in the store
        return _ENCODE(self.data())

    def record(self) -> tuple[str, int, str]:
        """What a store keeps of the event besides `ts`: (type name, schema version, JSON data)."""
        return self.type, self.version, self.to_json()

    def replace(self: E, **changes: Any) -> E:
        """A copy of the event with `changes` to its fields."""
        return msgspec.structs.replace(self, **changes)


def from_record(type_name: str, ts: float, version: int, data: dict[str, Any]) -> Event:
    """Rebuild an event read from storage, upcasting older schema versions first."""
    cls = REGISTRY.get(type_name)
    if cls is None:
        return UnknownEvent(ts=ts, name=type_name, payload=data, schema_version=version)
    while version < cls.version:
        data = UPCASTERS[(type_name, version)](data)
        version += 1
    known = {k: v for k, v in data.items() if k in cls._fields}
    try:
        return cls(ts=ts, **known)
    except TypeError:  # a newer version of a known type that this version cannot read
        return UnknownEvent(ts=ts, name=type_name, payload=data, schema_version=version)


def from_json(type_name: str, ts: float, version: int, text: str) -> Event:
    return from_record(type_name, ts, version, json.loads(text))


@event("run.started", version=2)
class RunStarted(Event, frozen=True):
    run_id: str
    plan_name: str
    plan_path: str
    # [{"id", "title", "timebox"}], in run order
    phases: list[dict[str, Any]]
    # [{"id", "phase", "agent", "capability", "needs", "estimate", "on_failure"}], in plan order
    tasks: list[dict[str, Any]]
    # [{"id", "slots", "capabilities"}]
    agents: list[dict[str, Any]]
    user: str = ""
    host: str = ""
    # [{"id", "after", "approval", "approvers", "quorum", "forbid_self_approval" (when true)}]
    gates: list[dict[str, Any]] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)  # the plan's roles.operators
    # the git repository and commit worktree attempts start from (plans with `worktree: true`)
    repo: str = ""
    base_commit: str = ""
    # the plan's stakeholder feedback: {"ask": [...], "at": "end" | GATE, "questions": [...]}
    # ({} without a `feedback:` section: the starter and operators may give it at any time)
    feedback: dict[str, Any] = field(default_factory=dict)


def _run_started_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 lists the plan's gates; runs recorded before gates existed had none."""
    return {**data, "gates": []}


UPCASTERS[("run.started", 1)] = _run_started_v1


@event("agent.probed")
class AgentProbed(Event, frozen=True):
    agent: str
    ready: bool
    detail: str = ""


@event("agent.reached")
class AgentReached(Event, frozen=True):
    """An agent's host over SSH answered (its round trip in ms), or could not be reached."""

    agent: str
    host: str  # user@host[:port]
    rtt_ms: float | None  # None: not reached
    ok: bool
    detail: str = ""  # why not


@event("phase.started")
class PhaseStarted(Event, frozen=True):
    phase: str


@event("phase.finished")
class PhaseFinished(Event, frozen=True):
    phase: str
    status: str  # succeeded | failed | cancelled


@event("task.ready")
class TaskReady(Event, frozen=True):
    task: str


@event("task.started")
class TaskStarted(Event, frozen=True):
    task: str
    attempt: int
    agent: str
    pid: int
    pgid: int
    command: str = ""
    proc_started: float | None = None  # the process's start time: a pid is not reused unseen


@event("task.finished")
class TaskFinished(Event, frozen=True):
    task: str
    attempt: int
    status: str  # succeeded | failed | timed_out | cancelled
    exit_code: int | None
    lines: int = 0
    dropped: int = 0
    reason: str = ""


@event("task.handoff")
class TaskHandoff(Event, frozen=True):
    """What an attempt in its own git worktree changed, committed on its branch: the diffstat,
    and the patch against the run's start commit (a file in the run's directory)."""

    task: str
    attempt: int
    branch: str
    commit: str = ""  # "" when it changed nothing
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    patch: str = ""
    error: str = ""  # why no hand-off could be made (a git command failed)


@event("task.results")
class TaskResults(Event, frozen=True):
    """A task's test results, read when its attempt ended (its `results:`)."""

    task: str
    attempt: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)  # [{name, message, kind}]
    source: str = ""  # "junit" | "summary" | "" (nothing could be read)
    error: str = ""  # why not (the file was not written, no line matched)
    # [[name, outcome (passed | failed | errors | skipped), seconds]], at most 5,000 (the
    # JUnit report nests them under their task); not folded into the state
    cases: list[list[Any]] = field(default_factory=list)


@event("task.retrying")
class TaskRetrying(Event, frozen=True):
    task: str
    attempt: int  # the attempt that will run next
    delay: float
    reason: str = ""


@event("task.blocked")
class TaskBlocked(Event, frozen=True):
    task: str
    reason: str


@event("task.skipped")
class TaskSkipped(Event, frozen=True):
    task: str
    reason: str
    by: str = ""


@event("task.stopping")
class TaskStopping(Event, frozen=True):
    """An operator stops a running task: its group is terminated and it ends with `status`
    (skipped or cancelled), whatever its exit code."""

    task: str
    status: str
    reason: str
    by: str = ""


@event("fallback.called")
class FallbackCalled(Event, frozen=True):
    """A risk rule fired whose action is a fallback task: the task stands by no more."""

    task: str
    rule: str


@event("run.cancelling")
class RunCancelling(Event, frozen=True):
    """The run is being cancelled: no new task starts, running ones are terminated."""

    reason: str


@event("run.finished")
class RunFinished(Event, frozen=True):
    status: str  # succeeded | failed | cancelled
    reason: str = ""


class UnknownEvent(Event, frozen=True):
    """An event written by a newer phasegate; kept and shown, ignored by the fold.

    It keeps the stored type name, version and data, so copying it to another store (an export,
    a test fixture) writes back exactly what the newer phasegate wrote.
    """

    name: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 1

    def data(self) -> dict[str, Any]:
        return self.payload

    def record(self) -> tuple[str, int, str]:
        return self.name, self.schema_version, self.to_json()


@event("check.finished")
class CheckFinished(Event, frozen=True):
    scope: str  # "plan" or a phase id
    name: str
    passed: bool
    detail: str = ""


@event("gate.opened")
class GateOpened(Event, frozen=True):
    """A gate's criteria were evaluated; a manual gate now waits for approvers."""

    gate: str
    attempt: int
    # [{"kind", "spec", "passed", "detail"}]
    criteria: list[dict[str, Any]]
    evidence_hash: str
    approval: str  # manual | auto


@event("gate.voted")
class GateVoted(Event, frozen=True):
    """An accepted decision of an approver: an audit row."""

    gate: str
    decision: str  # approve | reject
    user: str
    uid: int
    host: str = ""
    tty: str = ""
    ssh: str = ""
    reason: str = ""
    evidence_hash: str = ""
    command: int = 0


@event("gate.refused")
class GateRefused(Event, frozen=True):
    """A decision refused by the gate's policy: an audit row saying why and who may decide."""

    gate: str
    decision: str
    user: str
    uid: int
    why: str
    host: str = ""
    tty: str = ""
    ssh: str = ""
    reason: str = ""
    command: int = 0


@event("gate.closed")
class GateClosed(Event, frozen=True):
    gate: str
    outcome: str  # passed | rejected | failed
    reason: str = ""


@event("phase.rewound")
class PhaseRewound(Event, frozen=True):
    """A rejected gate sends the run back: this phase and the ones after it run again."""

    phase: str
    gate: str
    reason: str


@event("risk.raised")
class RiskRaised(Event, frozen=True):
    """An early warning: `key` names the rule and its subject, so the risk is raised once."""

    key: str
    rule: str
    severity: str  # info | low | medium | high | critical
    subject: str  # "run", "phase build", "task compile", "agent coder"
    message: str
    action: str = ""  # the suggested action
    evidence: dict[str, Any] = field(default_factory=dict)


@event("risk.cleared")
class RiskCleared(Event, frozen=True):
    key: str
    reason: str = ""


@event("run.noted")
class RunNoted(Event, frozen=True):
    """An operator's note, kept for the lessons learned."""

    text: str
    by: str


@event("run.paused")
class RunPaused(Event, frozen=True):
    by: str
    reason: str = ""
    phase: str = ""  # only this phase: none of its tasks starts (it may be a later one)
    ask: str = ""  # the risk whose rule asks the operator: go on (resume) or stop (cancel)


@event("run.resumed")
class RunResumed(Event, frozen=True):
    by: str
    phase: str = ""


@event("run.recovered")
class RunRecovered(Event, frozen=True):
    """A new engine took over a run whose engine died: what it found of the old one's tasks.

    `tasks`: one entry per task that was in flight, {"task", "attempt", "action", "pids"}, where
    action is `rerun` (its processes were stopped; it runs again as a new attempt), `adopted`
    (its process lives on and is waited for) or `skipped` (an operator chose so)."""

    by: str
    engine_pid: int | None = None
    last_seen: float | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)


@event("forecast.updated")
class ForecastUpdated(Event, frozen=True):
    """The run's forecast: seconds of work left, so reports can say how accurate it was."""

    eta: float
    history: int = 0  # tasks whose estimate came from earlier runs
    phases: dict[str, float] = field(default_factory=dict)  # phase not ended -> seconds left
    guessed: int = 0  # tasks left with no estimate (a default was used)
    # only the clock moves (a manual gate without history waits, the run is paused, a phase is
    # held): the time left holds until the next forecast, which the engine records when it
    # moves again; front ends do not count it down meanwhile
    still: bool = False


@event("task.reset")
class TaskReset(Event, frozen=True):
    """A blocked task waits again: the task that blocked it is being retried."""

    task: str
    reason: str = ""


@event("research.finished")
class ResearchFinished(Event, frozen=True):
    """The answers to one of the plan's research queries (asked as the first phase starts)."""

    research: str
    provider: str  # history | the command
    query: str
    results: list[str] = field(default_factory=list)
    error: str = ""


@event("command.done")
class CommandDone(Event, frozen=True):
    """The engine's answer to an operator command: done, or refused and why."""

    command: int
    kind: str
    by: str
    ok: bool
    message: str = ""
    uid: int = -1  # the sender's, as the kernel said (-1: written before the run's socket)


@event("task.reprioritised")
class TaskReprioritised(Event, frozen=True):
    task: str
    priority: int
    by: str


@event("agent.slots_changed")
class AgentSlotsChanged(Event, frozen=True):
    agent: str
    slots: int
    by: str


@event("task.usage")
class TaskUsage(Event, frozen=True):
    """What an agent's attempt spent, as its CLI reported it (added to the task's total)."""

    task: str
    attempt: int
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    # "reported" by the CLI, "priced" from the agent's `price:` in the plan, "" when unknown
    cost_source: str = ""
    session_id: str = ""
    turns: int = 0
    # a count while the agent's prompt still runs (the rest follows at its end): a budget it
    # spends stops that very prompt too
    partial: bool = False


@event("budget.extended")
class BudgetExtended(Event, frozen=True):
    """An operator went on past a spent budget (`action: ask`): it grows by its size once more."""

    scope: str  # "run", "phase P", "agent A", "task T"
    by: str
    usd: float = 0.0
    tokens: int = 0
    turns: int = 0
    seconds: float = 0.0


@event("permission.asked")
class PermissionAsked(Event, frozen=True):
    """A coding agent asks to use a tool; a person answers it, like a gate."""

    id: str
    task: str
    attempt: int
    tool: str
    detail: str  # the command, the paths: what the tool would do
    reason: str = ""
    approvers: list[str] = field(default_factory=list)


@event("permission.answered")
class PermissionAnswered(Event, frozen=True):
    """Allowed or denied: by a person (`by`, `uid`), by a rule of the plan, or by the timeout."""

    id: str
    allowed: bool
    by: str
    uid: int = -1
    message: str = ""
    rule: str = ""  # the plan's rule that answered it, when no person did


@event("feedback.asked")
class FeedbackAsked(Event, frozen=True):
    """The plan's feedback questions are put to the people it asks (the run ended, or the
    gate named by `feedback.at` opened)."""

    at: str  # end | the gate's id
    ask: list[str] = field(default_factory=list)


@event("feedback.given")
class FeedbackGiven(Event, frozen=True):
    """A stakeholder's answers, with the identity the OS vouched for (the engine's socket, or
    the process that wrote it after the run ended): an audit row like a gate vote."""

    user: str
    uid: int
    rating: int | None = None  # 1-5, the first rating question's answer
    comment: str = ""  # the first text question's answer
    answers: dict[str, str] = field(default_factory=dict)  # every question's, by its id
    host: str = ""
    tty: str = ""
    ssh: str = ""
    command: int = 0  # the command it answered (0: written by the CLI after the run ended)


@event("change.proposed")
class ChangeProposed(Event, frozen=True):
    """An amendment of the live run's plan waits at its change gate: the difference task by
    task (engine/plan/amend.py), its impact on the forecast, who may decide it ([]: the run's
    starter) and the new plan's text (applied once approved)."""

    change: str  # change-1, change-2, ...
    by: str
    uid: int
    diff: list[dict[str, Any]]
    impact: dict[str, Any] = field(default_factory=dict)
    approvers: list[str] = field(default_factory=list)
    text: str = ""
    path: str = ""
    restart: list[str] = field(default_factory=list)
    command: int = 0


@event("change.closed")
class ChangeClosed(Event, frozen=True):
    """A change gate decided: passed (the plan.amended event follows), rejected, or refused
    (the run moved on since it was proposed and the change no longer fits)."""

    change: str
    outcome: str  # passed | rejected | refused
    reason: str = ""


@event("plan.amended")
class PlanAmended(Event, frozen=True):
    """The run follows a new version of its plan from now on: its text (kept, so that a
    take-over loads it), the difference, and the run's shape after it (as run.started has it:
    the fold gains and loses tasks, phases, gates and agents from it)."""

    change: str
    plan_version: int  # 2 for the first amendment (1 is the plan the run started with)
    by: str
    text: str
    diff: list[dict[str, Any]]
    phases: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)  # added or with new slots
    operators: list[str] = field(default_factory=list)
