"""The agent adapter seam: what an agent does with a task (the process to start) and with that
process's output (events it implies: messages, tool calls, usage, permission requests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from phasegate.engine.exec.base import ProcSpec
    from phasegate.engine.model import events as ev
    from phasegate.engine.plan.model import Task


@dataclass(frozen=True, slots=True)
class Launch:
    """An attempt as an adapter sees it."""

    task: Task
    attempt: int
    env: dict[str, str]  # the task's whole environment (PHASEGATE_* included)
    cwd: str
    session: str = ""  # a coding agent's session of an earlier attempt, to go on with
    spent: float = 0.0  # what that session cost so far (its CLI reports running totals)


class AgentAdapter(Protocol):
    # False: the run never calls `events` (plain commands: their output is only stored)
    reads_output: bool

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        """The process to start for the attempt, and its command as people see it (events,
        logs, the dashboard)."""
        ...

    def events(self, launch: Launch, stream: str, text: str) -> Sequence[ev.Event]:
        """The events one line of the process's output implies (called only when
        `reads_output`)."""
        ...
