"""RunState: a run's current state, as the fold of its events makes it (engine/model/fold.py):
its tasks, phases, agents, gates, changes, risks and permissions."""

from __future__ import annotations

from typing import Any

import msgspec

from phasegate.engine.model.statuses import (
    AgentStatus,
    GateStatus,
    PhaseStatus,
    RunStatus,
    Severity,
    TaskStatus,
)


class LostAttempt(msgspec.Struct):
    """An attempt given up with its connection to an SSH host: its process may still run there
    (the host's next connection stops it first, a take-over's too)."""

    host: str  # the host's key (user@host[:port])
    attempt: int
    pgid: int = 0  # its process group, 0 when its session never told it
    agent: str = ""  # whose attempt it was


class TaskState(msgspec.Struct):
    id: str
    phase: str
    agent: str | None = None
    capability: str | None = None
    needs: tuple[str, ...] = ()
    estimate: float | None = None
    p90: float | None = None  # of its earlier successful runs, when history has them
    retry_s: float = 0.0  # what their failed attempts took before them, on average
    priority: int = 0
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    failures: int = 0  # attempts that ended failed or timed out (a rewind's or restart's: none)
    pid: int | None = None
    proc_started: float | None = None  # its process's start time (a pid is not reused unseen)
    started_at: float | None = None  # its first attempt's start
    attempt_started_at: float | None = None  # its newest attempt's start
    ran_s: float = 0.0  # its attempts' own wall time, those that ended (no wait between them)
    finished_at: float | None = None
    exit_code: int | None = None
    lines: int = 0
    dropped: int = 0
    reason: str = ""
    stopping: str = ""  # an operator stops it: the status it ends with (skipped | cancelled)
    stop_reason: str = ""
    called: bool = False  # a fallback of a risk rule that fired
    usage: dict[str, Any] = {}  # tokens and cost, all attempts
    session_id: str = ""  # a coding agent's session (its last attempt's)
    handoff: dict[str, Any] = {}  # its last worktree attempt's
    results: dict[str, Any] = {}  # its last attempt's test results
    # its attempts given up with their connection to a host, not known to be stopped since
    lost: list[LostAttempt] = []

    @property
    def duration(self) -> float | None:
        """Its newest attempt's time, as reports, the forecast and the risk rules count it (the
        attempts before it are in `attempts`)."""
        began = self.attempt_started_at or self.started_at
        if began is None or self.finished_at is None:
            return None
        return self.finished_at - began

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phase": self.phase,
            "agent": self.agent,
            "status": self.status.value,
            "priority": self.priority,
            # what the forecast expects of it: the plan's estimate or its history's median
            # (with the p90, and the time its earlier runs' retries took on average)
            "estimate": self.estimate,
            "p90": self.p90,
            **({"retry_s": self.retry_s} if self.retry_s else {}),
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "lines": self.lines,
            "dropped_lines": self.dropped,
            "reason": self.reason,
            **({"usage": dict(self.usage), "session_id": self.session_id} if self.usage else {}),
            **({"handoff": dict(self.handoff)} if self.handoff else {}),
            **({"results": dict(self.results)} if self.results else {}),
        }


class PermissionState(msgspec.Struct):
    """A coding agent's request to use a tool, open until a person or a rule answers."""

    id: str
    task: str
    attempt: int
    tool: str
    detail: str
    reason: str = ""
    approvers: list[str] = []
    asked_at: float = 0.0
    status: str = "open"  # open | allowed | denied
    by: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "permission",
            "task": self.task,
            "attempt": self.attempt,
            "tool": self.tool,
            "detail": self.detail,
            "reason": self.reason,
            "approvers": list(self.approvers),
            "status": self.status,
            "opened_at": self.asked_at,
            "by": self.by,
            "message": self.message,
        }


class PhaseState(msgspec.Struct):
    id: str
    title: str = ""
    timebox: float | None = None
    status: PhaseStatus = PhaseStatus.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    held: bool = False  # paused by an operator: none of its tasks starts until resumed
    held_by: str = ""  # who paused it (a user, or `risk:RULE` for a risk rule's `pause`)
    held_reason: str = ""  # why, as the pause said it


class AgentState(msgspec.Struct):
    id: str
    slots: int = 1
    status: AgentStatus = AgentStatus.IDLE
    running: set[str] = set()
    detail: str = ""
    host: str = ""  # where its tasks run over SSH (user@host[:port]), once reached or tried
    rtt_ms: float | None = None  # the host's last round trip; None: not reached
    unreachable: str = ""  # why the host could not be reached the last time it was tried


class GateState(msgspec.Struct):
    id: str
    after: str
    approval: str = "manual"
    approvers: tuple[str, ...] = ()
    quorum: int = 1
    forbid_self_approval: bool = False  # the run's starter may not decide it
    status: GateStatus = GateStatus.WAITING
    attempt: int = 0
    criteria: list[dict[str, Any]] = []
    evidence_hash: str = ""
    opened_at: float | None = None
    closed_at: float | None = None
    approved_by: list[str] = []  # distinct users, this attempt
    rejected: str = ""  # a rejection accepted for this attempt (who and why), until it closes
    reason: str = ""
    waited: float = 0.0  # seconds it was open in its openings that closed (rejected, rewound)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "after": self.after,
            "approval": self.approval,
            "approvers": list(self.approvers),
            "quorum": self.quorum,
            "status": self.status.value,
            "attempt": self.attempt,
            "criteria": self.criteria,
            "evidence_hash": self.evidence_hash,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "approved_by": list(self.approved_by),
            "reason": self.reason,
        }


class ChangeState(msgspec.Struct):
    """An amendment of the plan at its change gate: open until its approvers decide."""

    id: str
    by: str
    diff: list[dict[str, Any]] = []
    impact: dict[str, Any] = {}
    approvers: tuple[str, ...] = ()  # (): the run's starter decides
    opened_at: float = 0.0
    status: GateStatus = GateStatus.OPEN
    closed_at: float | None = None
    approved_by: list[str] = []
    reason: str = ""
    restart: list[str] = []
    text: str = ""  # the new plan's (applied once approved; not shown)
    path: str = ""

    @property
    def quorum(self) -> int:
        """The approvals it waits for, at most: one from its approvers (the plan's
        roles.changes), and for each gate it weakens that gate's quorum of its own approvers
        (engine/run/amend_oversight.py; one person's approval may count for both)."""
        weakened = (c.get("oversight") for c in self.diff if isinstance(c, dict))
        return 1 + sum(int(o.get("quorum") or 0) for o in weakened if isinstance(o, dict))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "change",
            "after": "",
            "approval": "manual",
            "approvers": list(self.approvers),
            "quorum": self.quorum,
            "status": self.status.value,
            "by": self.by,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "approved_by": list(self.approved_by),
            "reason": self.reason,
            "diff": self.diff,
            "impact": self.impact,
            "restart": list(self.restart),
        }


class RiskState(msgspec.Struct):
    key: str
    rule: str
    severity: Severity
    subject: str
    message: str
    action: str = ""
    raised_at: float = 0.0
    cleared_at: float | None = None
    evidence: dict[str, Any] = {}

    @property
    def open(self) -> bool:
        return self.cleared_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "severity": self.severity.value,
            "subject": self.subject,
            # the subject's kind and id apart: {"kind": "task", "id": "compile"}
            "on": dict(zip(("kind", "id"), self.subject.split(" ", 1), strict=False)),
            "message": self.message,
            "action": self.action,
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "open": self.open,
            "evidence": self.evidence,
        }


class RunState(msgspec.Struct):
    run_id: str = ""
    plan_name: str = ""
    plan_path: str = ""
    user: str = ""
    host: str = ""
    status: RunStatus = RunStatus.PENDING
    reason: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    phases: dict[str, PhaseState] = {}
    tasks: dict[str, TaskState] = {}
    agents: dict[str, AgentState] = {}
    gates: dict[str, GateState] = {}
    risks: dict[str, RiskState] = {}
    notes: list[tuple[float, str, str]] = []  # (time, by, text)
    research: dict[str, dict[str, Any]] = {}  # id -> its answers
    # the last forecast: {"at": when, "eta": seconds left then, "phases": {phase: seconds left}}
    forecast: dict[str, Any] = {}
    # a risk rule asking the operator (the run is paused until answered):
    # {"risk": key, "by": "risk:RULE", "reason": text, "at": when}
    question: dict[str, Any] = {}
    # the reason of the last rejection that rewound the run: the phases that run again see it
    # (PHASEGATE_FEEDBACK)
    feedback: str = ""
    cancelling: str = ""  # the run is being cancelled, and why
    last_command: int = 0  # the highest command number answered (numbers go on after it)
    operators: list[str] = []  # besides the starter (roles.operators)
    repo: str = ""  # where worktree attempts start from: the repository and its commit
    usage: dict[str, Any] = {}  # the run's coding agents' spend, summed
    # budget scope -> what operators added to it ({"usd", "tokens", "turns"})
    budget_extra: dict[str, dict[str, float]] = {}
    base_commit: str = ""
    permissions: dict[str, PermissionState] = {}  # agents' requests
    changes: dict[str, ChangeState] = {}  # amendments at their gate
    # the applied amendments: {"change", "version", "at", "by", "diff"}; the plan the run
    # follows is version 1 + len(amendments)
    amendments: list[dict[str, Any]] = []
    # stakeholder feedback: the plan's section ({} without one), when its questions were asked
    # (None: not yet), and the answers given ({"ts", "user", "uid", "rating", "comment", ...})
    feedback_plan: dict[str, Any] = {}
    feedback_asked: float | None = None
    feedback_given: list[dict[str, Any]] = []
    # stored values this phasegate could not read (an unknown status, say): shown, never raised
    anomalies: list[str] = []
    events: int = 0
    last_event_at: float | None = None  # its newest event's time: an interrupted run's end

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks.values():
            out[t.status.value] = out.get(t.status.value, 0) + 1
        return out

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or self.started_at) - self.started_at

    def last_seen(self, heartbeat: float | None = None) -> float | None:
        """A run not ended (or whose engine died): its last sign of life, its newest event or
        the engine's last `heartbeat`, whichever came later (None before it started)."""
        if self.started_at is None:
            return None
        return max(t for t in (self.started_at, self.last_event_at, heartbeat) if t is not None)
