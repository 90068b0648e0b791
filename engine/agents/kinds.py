"""Which adapter an agent's `kind` gets: a plain command, or a coding-agent CLI spoken to in its
own protocol."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from phasegate.engine.agents.command import CommandAdapter

if TYPE_CHECKING:
    from phasegate.engine.agents.base import AgentAdapter
    from phasegate.engine.plan.model import Agent

    Make = Callable[[str, Agent, dict[str, str]], AgentAdapter]

# kind -> (module, class): (agent's name, the agent, the run's values) -> its adapter. A coding
# agent's module is imported when a plan has such an agent: a plan of commands never pays for it.
KINDS: dict[str, tuple[str, str]] = {
    "acp": ("phasegate.engine.agents.acp", "AcpAdapter"),
    "claude": ("phasegate.engine.agents.claude", "ClaudeAdapter"),
    "codex": ("phasegate.engine.agents.codex", "CodexAdapter"),
    "gemini": ("phasegate.engine.agents.acp", "GeminiAdapter"),
}


def adapter_for(name: str, agent: Agent, values: dict[str, str]) -> AgentAdapter:
    """What the agent's kind makes of a task: a command, or a coding agent's conversation."""
    where = KINDS.get(agent.kind)
    if where is None:
        return CommandAdapter(agent.command, values)
    make: Make = getattr(importlib.import_module(where[0]), where[1])
    return make(name, agent, values)
