"""The events of a run's oversight: checks, gates and their decisions, risks, operators' notes,
forecasts, research, budgets extended, agents' permission requests, stakeholders' feedback,
proposed changes and amendments of the plan (the rest are in engine/model/events.py, which
names these too: import them from there)."""

from __future__ import annotations

from typing import Any

from msgspec import field

from phasegate.engine.model.event_base import Event, event


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
    """An operator's note, kept for the lessons learned. Where it came from (`uid`, `host`,
    `tty`, `ssh`) is kept for a note recorded after the run's end (no engine took it as a
    command, whose answer has them); -1 and "" otherwise, and in runs recorded before."""

    text: str
    by: str
    uid: int = -1
    host: str = ""
    tty: str = ""
    ssh: str = ""


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


@event("research.started")
class ResearchStarted(Event, frozen=True):
    """The plan's research queries are asked (as the first phase starts): the run waits for
    them, `limit` seconds at most (the longest command's timeout; 0: history only)."""

    queries: list[str]
    limit: float = 0.0


@event("research.finished")
class ResearchFinished(Event, frozen=True):
    """The answers to one of the plan's research queries (asked as the first phase starts)."""

    research: str
    provider: str  # history | the command
    query: str
    results: list[str] = field(default_factory=list)
    error: str = ""


@event("budget.extended")
class BudgetExtended(Event, frozen=True):
    """An operator went on past a spent budget (`action: ask`): it grows by its size once more.
    An audit row, with the identity of the resume that extended it."""

    scope: str  # "run", "phase P", "agent A", "task T"
    by: str
    usd: float = 0.0
    tokens: int = 0
    turns: int = 0
    seconds: float = 0.0
    # who resumed the run, as the engine's socket vouched for it (-1, "": not known: recorded
    # before it was kept, or resumed by no command)
    uid: int = -1
    host: str = ""
    tty: str = ""
    ssh: str = ""


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


UNDECIDED = "the run ended before it was decided"  # a change gate closed as its run ended


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
