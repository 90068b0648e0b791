"""Every event a run emits: frozen structs with a stable type name, a version, a registry.

Events are past-tense facts and carry only plain values (str, int, float, bool, None, lists and
dicts of those). Their type name is written once, where the event is declared, and never derived
from the class path. This module declares the run's own course (the run, its phases, tasks and
agents, and the operators' steering) and names every event: the oversight's (checks, gates,
risks, people, changes) are declared in engine/model/events_oversight.py, the base and the
registry in engine/model/event_base.py.
"""

from __future__ import annotations

from typing import Any

from msgspec import field

from phasegate.engine.model.event_base import REGISTRY as REGISTRY
from phasegate.engine.model.event_base import UPCASTERS as UPCASTERS
from phasegate.engine.model.event_base import Event as Event
from phasegate.engine.model.event_base import UnknownEvent as UnknownEvent
from phasegate.engine.model.event_base import event as event
from phasegate.engine.model.event_base import from_json as from_json
from phasegate.engine.model.event_base import from_record as from_record
from phasegate.engine.model.events_oversight import UNDECIDED as UNDECIDED
from phasegate.engine.model.events_oversight import BudgetExtended as BudgetExtended
from phasegate.engine.model.events_oversight import ChangeClosed as ChangeClosed
from phasegate.engine.model.events_oversight import ChangeProposed as ChangeProposed
from phasegate.engine.model.events_oversight import CheckFinished as CheckFinished
from phasegate.engine.model.events_oversight import FeedbackAsked as FeedbackAsked
from phasegate.engine.model.events_oversight import FeedbackGiven as FeedbackGiven
from phasegate.engine.model.events_oversight import ForecastUpdated as ForecastUpdated
from phasegate.engine.model.events_oversight import GateClosed as GateClosed
from phasegate.engine.model.events_oversight import GateOpened as GateOpened
from phasegate.engine.model.events_oversight import GateRefused as GateRefused
from phasegate.engine.model.events_oversight import GateVoted as GateVoted
from phasegate.engine.model.events_oversight import PermissionAnswered as PermissionAnswered
from phasegate.engine.model.events_oversight import PermissionAsked as PermissionAsked
from phasegate.engine.model.events_oversight import PhaseRewound as PhaseRewound
from phasegate.engine.model.events_oversight import PlanAmended as PlanAmended
from phasegate.engine.model.events_oversight import ResearchFinished as ResearchFinished
from phasegate.engine.model.events_oversight import ResearchStarted as ResearchStarted
from phasegate.engine.model.events_oversight import RiskCleared as RiskCleared
from phasegate.engine.model.events_oversight import RiskRaised as RiskRaised
from phasegate.engine.model.events_oversight import RunNoted as RunNoted


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
    uid: int = -1  # the starter's OS user id (-1: not known, a run recorded before it was kept)
    tty: str = ""  # the starter's terminal and SSH connection ("": none, or recorded before)
    ssh: str = ""


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


NOT_STARTED = "(not started: "


@event("task.started")
class TaskStarted(Event, frozen=True):
    task: str
    attempt: int
    agent: str
    pid: int
    pgid: int
    command: str = ""
    proc_started: float | None = None  # the process's start time: a pid is not reused unseen

    @property
    def spawned(self) -> bool:
        """False for an attempt that ends failed without a process (its budget is spent, its
        worktree could not be made): its `command` says why, `(not started: WHY)`."""
        return not self.command.startswith(NOT_STARTED)


@event("task.finished")
class TaskFinished(Event, frozen=True):
    task: str
    attempt: int
    status: str  # succeeded | failed | timed_out | cancelled
    exit_code: int | None
    lines: int = 0
    dropped: int = 0
    reason: str = ""
    # when the process ended, if before this event: an adopted attempt that ended while no
    # engine ran (the take-over writes this event; its duration ends here, not at `ts`)
    ended_at: float | None = None
    # given up with its connection to another host (ssh), where its process may still run:
    # that host's key and the process group (0: never told); the host's next connection, a
    # take-over's too, stops it there before anything new runs
    lost_on: str = ""
    lost_pgid: int = 0

    @property
    def end(self) -> float:
        return self.ended_at if self.ended_at is not None else self.ts

    def data(self) -> dict[str, Any]:
        found = super().data()
        # (stored only when they say something: the events as before)
        if self.ended_at is None:
            del found["ended_at"]
        if not self.lost_on:
            del found["lost_on"], found["lost_pgid"]
        return found


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
    uid: int = -1  # who took it over, and where (the audit's row; -1: recorded before)
    host: str = ""
    tty: str = ""
    ssh: str = ""


@event("task.reset")
class TaskReset(Event, frozen=True):
    """A blocked task waits again: the task that blocked it is being retried."""

    task: str
    reason: str = ""


@event("command.done", version=2)
class CommandDone(Event, frozen=True):
    """The engine's answer to an operator command: done, or refused and why; an audit row.

    `message` is the engine's answer; `reason` the operator's own, as the command carried it
    ("" when it carries none); `host`, `tty` and `ssh` the context the sender gave the run's
    socket, as a gate's vote carries it ("" for a command of the engine's own, a risk rule's)."""

    command: int
    kind: str
    by: str
    ok: bool
    message: str = ""
    uid: int = -1  # the sender's, as the kernel said (-1: written before the run's socket)
    reason: str = ""
    host: str = ""
    tty: str = ""
    ssh: str = ""
    target: str = ""  # what it acted on: `task build`, `agent coder`, `phase qa` ("": the run)


def _command_done_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 keeps the operator's reason and where the command came from; an answer
    recorded before did not: neither is known."""
    return {**data, "reason": "", "host": "", "tty": "", "ssh": "", "target": ""}


UPCASTERS[("command.done", 1)] = _command_done_v1


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
