"""Which adapter an agent's `kind` gets: a plain command, or a coding-agent CLI spoken to in its
own protocol."""

from __future__ import annotations

from collections.abc import Callable

from phasegate.engine.agents.acp import AcpAdapter, GeminiAdapter
from phasegate.engine.agents.base import AgentAdapter
from phasegate.engine.agents.claude import ClaudeAdapter
from phasegate.engine.agents.codex import CodexAdapter
from phasegate.engine.agents.command import CommandAdapter
from phasegate.engine.plan.model import Agent

# kind -> (agent's name, the agent, the run's values) -> its adapter
KINDS: dict[str, Callable[[str, Agent, dict[str, str]], AgentAdapter]] = {
    "acp": AcpAdapter,
    "claude": ClaudeAdapter,
    "codex": CodexAdapter,
    "gemini": GeminiAdapter,
}


def adapter_for(name: str, agent: Agent, values: dict[str, str]) -> AgentAdapter:
    """What the agent's kind makes of a task: a command, or a coding agent's conversation."""
    make = KINDS.get(agent.kind)
    if make is None:
        return CommandAdapter(agent.command, values)
    return make(name, agent, values)
