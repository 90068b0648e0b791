"""Statuses and severities as str enums, each member with its meaning; stored as their text.

A stored value that this phasegate does not know becomes the enum's UNKNOWN (the fold reports
it in `RunState.anomalies`), never an exception."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a risk is, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # a stored value this phasegate does not know (reported in anomalies)


SEVERITIES = tuple(s.value for s in Severity if s is not Severity.UNKNOWN)  # lowest first


class TaskStatus(StrEnum):
    PENDING = "pending"  # waiting for its phase or its dependencies
    READY = "ready"  # dependencies met, waiting for an agent slot or resources
    RUNNING = "running"  # its process is alive
    SUCCEEDED = "succeeded"  # exited 0 and produced its declared outputs
    FAILED = "failed"  # failed for good (retries used up)
    TIMED_OUT = "timed_out"  # killed after its timeout
    CANCELLED = "cancelled"  # stopped by the operator or by Ctrl-C
    SKIPPED = "skipped"  # skipped by an operator; its dependents go on
    BLOCKED = "blocked"  # a dependency ended badly or no ready agent can take it
    UNKNOWN = "unknown"  # a stored status this phasegate does not know: ended, never run again

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.TIMED_OUT,
        TaskStatus.CANCELLED,
        TaskStatus.SKIPPED,
        TaskStatus.BLOCKED,
        TaskStatus.UNKNOWN,
    }
)
# outcomes after which dependents may go on
SATISFIED = frozenset({TaskStatus.SUCCEEDED, TaskStatus.SKIPPED})


# how a task can end badly: its dependents are blocked unless its on_failure says otherwise
BAD = frozenset(
    {
        TaskStatus.FAILED,
        TaskStatus.TIMED_OUT,
        TaskStatus.CANCELLED,
        TaskStatus.BLOCKED,
        TaskStatus.UNKNOWN,
    }
)


class RunStatus(StrEnum):
    PENDING = "pending"  # created, the engine has not started it yet
    RUNNING = "running"  # the engine is working on it
    PAUSED = "paused"  # no new tasks start until resumed
    SUCCEEDED = "succeeded"  # every task succeeded (or failed with on_failure: continue)
    FAILED = "failed"  # a task or a gate failed it
    CANCELLED = "cancelled"  # stopped by the operator
    INTERRUPTED = "interrupted"  # the engine died; `resume` continues it
    UNKNOWN = "unknown"  # a stored status this phasegate does not know (reported in anomalies)


class PhaseStatus(StrEnum):
    PENDING = "pending"  # not reached yet (or rewound to by a gate)
    RUNNING = "running"  # its tasks are under way
    SUCCEEDED = "succeeded"  # its tasks ended well (or failed with on_failure: continue)
    FAILED = "failed"  # a task or an entry check failed it
    CANCELLED = "cancelled"  # the run was cancelled while it ran
    UNKNOWN = "unknown"  # a stored status this phasegate does not know (reported in anomalies)

    @property
    def ended(self) -> bool:
        return self not in (PhaseStatus.PENDING, PhaseStatus.RUNNING)


class GateStatus(StrEnum):
    WAITING = "waiting"  # its phase has not ended yet
    OPEN = "open"  # criteria evaluated, waiting for approvers
    PASSED = "passed"
    REJECTED = "rejected"  # by an approver or its on_timeout rule
    FAILED = "failed"  # an automatic gate whose criteria failed
    UNKNOWN = "unknown"  # a stored outcome this phasegate does not know (reported in anomalies)


class AgentStatus(StrEnum):
    NOT_READY = "not_ready"  # its readiness probe failed
    IDLE = "idle"
    BUSY = "busy"
    OFFLINE = "offline"  # a remote agent that was lost
