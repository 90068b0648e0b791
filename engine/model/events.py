"""Every event a run emits: frozen dataclasses with a stable type name, a version, a registry.

Events are past-tense facts and carry only plain values (str, int, float, bool, None, lists and
dicts of those). Their type name is written once here and never derived from the class path.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

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
        cls._fields = tuple(f.name for f in dataclasses.fields(cls) if f.name != "ts")
        REGISTRY[name] = cls
        return cls

    return register


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event. `ts` is the wall-clock time (epoch seconds) at which it happened."""

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    _fields: ClassVar[tuple[str, ...]] = ()

    ts: float

    # Equality, hash and repr are written once here, as dataclass would write them for each
    # class (the same fields, in the same order, the same text): each event class then asks
    # dataclass for neither (eq=False, repr=False), and importing this module, which every run
    # and every command does, compiles half as many generated methods.

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _names(type(self))[1])
        return f"{self.__class__.__qualname__}({shown})"

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in _names(type(self))[0])

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


_NAMES: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _names(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields an event class compares and hashes, and those its repr shows."""
    names = _NAMES.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        names = _NAMES[cls] = (
            tuple(f.name for f in fields if f.compare),
            tuple(f.name for f in fields if f.repr),
        )
    return names


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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunStarted(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class AgentProbed(Event):
    agent: str
    ready: bool
    detail: str = ""


@event("agent.reached")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class AgentReached(Event):
    """An agent's host over SSH answered (its round trip in ms), or could not be reached."""

    agent: str
    host: str  # user@host[:port]
    rtt_ms: float | None  # None: not reached
    ok: bool
    detail: str = ""  # why not


@event("phase.started")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PhaseStarted(Event):
    phase: str


@event("phase.finished")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PhaseFinished(Event):
    phase: str
    status: str  # succeeded | failed | cancelled


@event("task.ready")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskReady(Event):
    task: str


@event("task.started")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskStarted(Event):
    task: str
    attempt: int
    agent: str
    pid: int
    pgid: int
    command: str = ""
    proc_started: float | None = None  # the process's start time: a pid is not reused unseen


@event("task.finished")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskFinished(Event):
    task: str
    attempt: int
    status: str  # succeeded | failed | timed_out | cancelled
    exit_code: int | None
    lines: int = 0
    dropped: int = 0
    reason: str = ""


@event("task.handoff")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskHandoff(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskResults(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskRetrying(Event):
    task: str
    attempt: int  # the attempt that will run next
    delay: float
    reason: str = ""


@event("task.blocked")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskBlocked(Event):
    task: str
    reason: str


@event("task.skipped")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskSkipped(Event):
    task: str
    reason: str
    by: str = ""


@event("task.stopping")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskStopping(Event):
    """An operator stops a running task: its group is terminated and it ends with `status`
    (skipped or cancelled), whatever its exit code."""

    task: str
    status: str
    reason: str
    by: str = ""


@event("fallback.called")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class FallbackCalled(Event):
    """A risk rule fired whose action is a fallback task: the task stands by no more."""

    task: str
    rule: str


@event("run.cancelling")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunCancelling(Event):
    """The run is being cancelled: no new task starts, running ones are terminated."""

    reason: str


@event("run.finished")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunFinished(Event):
    status: str  # succeeded | failed | cancelled
    reason: str = ""


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class UnknownEvent(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CheckFinished(Event):
    scope: str  # "plan" or a phase id
    name: str
    passed: bool
    detail: str = ""


@event("gate.opened")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class GateOpened(Event):
    """A gate's criteria were evaluated; a manual gate now waits for approvers."""

    gate: str
    attempt: int
    # [{"kind", "spec", "passed", "detail"}]
    criteria: list[dict[str, Any]]
    evidence_hash: str
    approval: str  # manual | auto


@event("gate.voted")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class GateVoted(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class GateRefused(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class GateClosed(Event):
    gate: str
    outcome: str  # passed | rejected | failed
    reason: str = ""


@event("phase.rewound")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PhaseRewound(Event):
    """A rejected gate sends the run back: this phase and the ones after it run again."""

    phase: str
    gate: str
    reason: str


@event("risk.raised")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RiskRaised(Event):
    """An early warning: `key` names the rule and its subject, so the risk is raised once."""

    key: str
    rule: str
    severity: str  # info | low | medium | high | critical
    subject: str  # "run", "phase build", "task compile", "agent coder"
    message: str
    action: str = ""  # the suggested action
    evidence: dict[str, Any] = field(default_factory=dict)


@event("risk.cleared")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RiskCleared(Event):
    key: str
    reason: str = ""


@event("run.noted")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunNoted(Event):
    """An operator's note, kept for the lessons learned."""

    text: str
    by: str


@event("run.paused")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunPaused(Event):
    by: str
    reason: str = ""
    phase: str = ""  # only this phase: none of its tasks starts (it may be a later one)
    ask: str = ""  # the risk whose rule asks the operator: go on (resume) or stop (cancel)


@event("run.resumed")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunResumed(Event):
    by: str
    phase: str = ""


@event("run.recovered")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RunRecovered(Event):
    """A new engine took over a run whose engine died: what it found of the old one's tasks.

    `tasks`: one entry per task that was in flight, {"task", "attempt", "action", "pids"}, where
    action is `rerun` (its processes were stopped; it runs again as a new attempt), `adopted`
    (its process lives on and is waited for) or `skipped` (an operator chose so)."""

    by: str
    engine_pid: int | None = None
    last_seen: float | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)


@event("forecast.updated")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ForecastUpdated(Event):
    """The run's forecast: seconds of work left, so reports can say how accurate it was."""

    eta: float
    history: int = 0  # tasks whose estimate came from earlier runs
    phases: dict[str, float] = field(default_factory=dict)  # phase not ended -> seconds left
    guessed: int = 0  # tasks left with no estimate (a default was used)


@event("task.reset")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskReset(Event):
    """A blocked task waits again: the task that blocked it is being retried."""

    task: str
    reason: str = ""


@event("research.finished")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ResearchFinished(Event):
    """The answers to one of the plan's research queries (asked as the first phase starts)."""

    research: str
    provider: str  # history | the command
    query: str
    results: list[str] = field(default_factory=list)
    error: str = ""


@event("command.done")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CommandDone(Event):
    """The engine's answer to an operator command: done, or refused and why."""

    command: int
    kind: str
    by: str
    ok: bool
    message: str = ""
    uid: int = -1  # the sender's, as the kernel said (-1: written before the run's socket)


@event("task.reprioritised")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskReprioritised(Event):
    task: str
    priority: int
    by: str


@event("agent.slots_changed")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class AgentSlotsChanged(Event):
    agent: str
    slots: int
    by: str


@event("task.usage")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class TaskUsage(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BudgetExtended(Event):
    """An operator went on past a spent budget (`action: ask`): it grows by its size once more."""

    scope: str  # "run", "phase P", "agent A", "task T"
    by: str
    usd: float = 0.0
    tokens: int = 0
    turns: int = 0
    seconds: float = 0.0


@event("permission.asked")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PermissionAsked(Event):
    """A coding agent asks to use a tool; a person answers it, like a gate."""

    id: str
    task: str
    attempt: int
    tool: str
    detail: str  # the command, the paths: what the tool would do
    reason: str = ""
    approvers: list[str] = field(default_factory=list)


@event("permission.answered")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PermissionAnswered(Event):
    """Allowed or denied: by a person (`by`, `uid`), by a rule of the plan, or by the timeout."""

    id: str
    allowed: bool
    by: str
    uid: int = -1
    message: str = ""
    rule: str = ""  # the plan's rule that answered it, when no person did


@event("feedback.asked")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class FeedbackAsked(Event):
    """The plan's feedback questions are put to the people it asks (the run ended, or the
    gate named by `feedback.at` opened)."""

    at: str  # end | the gate's id
    ask: list[str] = field(default_factory=list)


@event("feedback.given")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class FeedbackGiven(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ChangeProposed(Event):
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
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ChangeClosed(Event):
    """A change gate decided: passed (the plan.amended event follows), rejected, or refused
    (the run moved on since it was proposed and the change no longer fits)."""

    change: str
    outcome: str  # passed | rejected | refused
    reason: str = ""


@event("plan.amended")
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PlanAmended(Event):
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
