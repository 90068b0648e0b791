"""The agent adapter seam: what an agent does with a task (the process to start) and, for a
coding agent, the conversation held with that process (engine/agents/talk: its transcript,
usage, tool requests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

if TYPE_CHECKING:
    from phasegate.engine.agents.talk import Talk
    from phasegate.engine.exec.base import ProcSpec
    from phasegate.engine.plan.model import Task


class Launch(msgspec.Struct, frozen=True):
    """An attempt as an adapter sees it."""

    task: Task
    attempt: int
    env: dict[str, str]  # the task's whole environment (PHASEGATE_* included)
    cwd: str
    session: str = ""  # a coding agent's session of an earlier attempt, to go on with
    spent: float = 0.0  # what that session cost so far (its CLI reports running totals)
    # the last lines of the earlier attempt's transcript: what an agent that cannot go on with
    # its session is given instead (a fresh session told where the last one ended)
    history: tuple[str, ...] = ()


class AgentAdapter(Protocol):
    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        """The process to start for the attempt, and its command as people see it (events,
        logs, the dashboard)."""
        ...

    def conversation(self, launch: Launch) -> Talk | None:
        """A coding agent's exchange with its CLI for the attempt (engine/run/talks), spoken on
        its stdin and stdout; None for an agent that is only a command."""
        ...
