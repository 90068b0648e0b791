"""Every command a run's engine takes: its name, its fields, their validation and who may send it.

The CLI, the dashboard, contingency actions and the engine all use these types; the engine
dispatches on the type, never on a name. A command travels as (kind, args): `args_of` and
`parse` turn one into the other, and `parse` is where a bad command is refused, with a reason
a person can act on.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

import msgspec
import msgspec.structs

from phasegate.engine.model.errors import UsageError


class Kind(StrEnum):
    """The name a command is stored and sent under (chosen once: stored runs hold them)."""

    APPROVE = "approve"  # a vote for a gate
    REJECT = "reject"  # a gate's rejection, with a reason
    CANCEL = "cancel"  # stop the whole run
    PAUSE = "pause"  # no new task starts (of one phase, with `phase`)
    RESUME = "resume"  # undo a pause (or answer a risk's question with "go on")
    PRIORITY = "priority"  # a task's new priority
    SLOTS = "slots"  # an agent's new number of slots
    RETRY = "retry"  # run a task that ended badly again
    SKIP = "skip"  # skip a task; its dependents go on
    CANCEL_TASK = "cancel_task"  # cancel one task; its dependents are blocked
    NOTE = "note"  # an operator's note, kept with the run
    FEEDBACK = "feedback"  # a stakeholder's answers to the plan's feedback questions
    AMEND = "amend"  # a new version of the plan, applied once its change gate passes


class Role(StrEnum):
    """Who may send a command: a gate's approvers decide under its policy; operators steer."""

    DECIDE = "decide"
    OPERATE = "operate"
    ANSWER = "answer"  # those the plan's feedback section asks (engine/run/feedback.py)


class BadCommand(UsageError):
    """A command that cannot be carried out as written (unknown kind, a missing or bad field)."""


class Approve(msgspec.Struct, frozen=True):
    gate: str
    reason: str = ""
    scope: str = ""  # "task": a coding agent's tool, allowed for the rest of its task
    kind: ClassVar[Kind] = Kind.APPROVE
    role: ClassVar[Role] = Role.DECIDE


class Reject(msgspec.Struct, frozen=True):
    gate: str
    reason: str  # the gate's policy refuses (and audits) a rejection without one
    kind: ClassVar[Kind] = Kind.REJECT
    role: ClassVar[Role] = Role.DECIDE


class Cancel(msgspec.Struct, frozen=True):
    reason: str = ""
    kind: ClassVar[Kind] = Kind.CANCEL
    role: ClassVar[Role] = Role.OPERATE


class Pause(msgspec.Struct, frozen=True):
    phase: str = ""  # empty: the whole run
    reason: str = ""
    ask: str = ""  # the key of a risk whose rule asks the operator (go on or stop?)
    kind: ClassVar[Kind] = Kind.PAUSE
    role: ClassVar[Role] = Role.OPERATE


class Resume(msgspec.Struct, frozen=True):
    phase: str = ""  # empty: the whole run
    kind: ClassVar[Kind] = Kind.RESUME
    role: ClassVar[Role] = Role.OPERATE


MAX_PRIORITY = 1_000_000  # a task's priority, in a plan or a command: -MAX_PRIORITY to MAX_PRIORITY
MAX_SLOTS = 1024  # an agent's slots, in a plan or a command: 1 to MAX_SLOTS


class Priority(msgspec.Struct, frozen=True):
    task: str
    priority: int
    kind: ClassVar[Kind] = Kind.PRIORITY
    role: ClassVar[Role] = Role.OPERATE

    def __post_init__(self) -> None:
        if not -MAX_PRIORITY <= self.priority <= MAX_PRIORITY:  # (what a plan's task takes)
            raise BadCommand(
                f"priority must be a whole number from {-MAX_PRIORITY:,} to {MAX_PRIORITY:,}"
            )


class Slots(msgspec.Struct, frozen=True):
    agent: str
    slots: int
    kind: ClassVar[Kind] = Kind.SLOTS
    role: ClassVar[Role] = Role.OPERATE

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= MAX_SLOTS:  # (what a plan's agent takes)
            raise BadCommand(f"slots must be a whole number from 1 to {MAX_SLOTS:,}")


class Retry(msgspec.Struct, frozen=True):
    task: str
    kind: ClassVar[Kind] = Kind.RETRY
    role: ClassVar[Role] = Role.OPERATE


class Skip(msgspec.Struct, frozen=True):
    task: str
    reason: str = ""
    kind: ClassVar[Kind] = Kind.SKIP
    role: ClassVar[Role] = Role.OPERATE


class CancelTask(msgspec.Struct, frozen=True):
    task: str
    reason: str = ""
    kind: ClassVar[Kind] = Kind.CANCEL_TASK
    role: ClassVar[Role] = Role.OPERATE


class Note(msgspec.Struct, frozen=True):
    text: str
    kind: ClassVar[Kind] = Kind.NOTE
    role: ClassVar[Role] = Role.OPERATE

    def __post_init__(self) -> None:
        _required(self.text, "a note needs text")


class Amend(msgspec.Struct, frozen=True):
    """A new version of the run's plan (its YAML text): checked against the run, then put to
    a change gate; `restart`: running tasks (comma-separated) whose command may change, their
    attempt stopped and run again with the new one."""

    text: str
    path: str = ""  # where it was read from (messages name it)
    restart: str = ""
    kind: ClassVar[Kind] = Kind.AMEND
    role: ClassVar[Role] = Role.OPERATE

    def __post_init__(self) -> None:
        _required(self.text, "an amendment needs the plan's text")

    @property
    def restarts(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.restart.split(",") if t.strip())


class Feedback(msgspec.Struct, frozen=True):
    rating: int = 0  # 1-5; 0: none given
    comment: str = ""
    answers: dict[str, str] = msgspec.field(default_factory=dict)  # other questions, by id
    kind: ClassVar[Kind] = Kind.FEEDBACK
    role: ClassVar[Role] = Role.ANSWER


Command = (
    Feedback
    | Approve
    | Reject
    | Cancel
    | Pause
    | Resume
    | Priority
    | Slots
    | Retry
    | Skip
    | CancelTask
    | Note
    | Amend
)
Decision = Approve | Reject

COMMANDS: dict[Kind, type[Command]] = {
    c.kind: c
    for c in (
        Approve,
        Reject,
        Cancel,
        Pause,
        Resume,
        Priority,
        Slots,
        Retry,
        Skip,
        CancelTask,
        Note,
        Feedback,
        Amend,
    )
}

# what a sender adds beside a command's own fields: where it was sent from (never used for
# policy: the engine takes identity from the OS)
CONTEXT = ("uid", "host", "tty", "ssh")


def _required(text: str, why: str) -> None:
    if not text.strip():
        raise BadCommand(why)


def args_of(command: Command) -> dict[str, Any]:
    """A command's fields, as stored and sent (those at their default are left out)."""
    return {
        f.name: getattr(command, f.name)
        for f in msgspec.structs.fields(command)
        if getattr(command, f.name) != f.default
        and (f.default_factory is msgspec.NODEFAULT or getattr(command, f.name))
    }


def parse(kind: str, args: Mapping[str, Any]) -> Command:
    """The typed command a (kind, args) pair stands for; BadCommand says what is wrong."""
    try:
        cls = COMMANDS[Kind(kind)]
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise BadCommand(f"unknown command '{kind}'; commands: {known}") from None
    values: dict[str, Any] = {}
    for f in msgspec.structs.fields(cls):
        value = args.get(f.name)
        if value is None:
            if f.required:
                raise BadCommand(f"'{kind}' needs '{f.name}'")
            continue
        if f.type is int:
            if isinstance(value, bool) or not _whole(value):
                raise BadCommand(f"'{f.name}' must be a whole number, not {value!r}")
            value = int(str(value))
        elif typing.get_origin(f.type) is dict:
            if not isinstance(value, Mapping):
                raise BadCommand(f"'{f.name}' must be a mapping, not {value!r}")
            value = {str(k): str(v) for k, v in value.items()}
        else:
            value = str(value)
        values[f.name] = value
    return cls(**values)


def _whole(value: object) -> bool:
    try:
        int(str(value))
    except ValueError:
        return False
    return True
