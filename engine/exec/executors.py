"""Which executor runs an agent's tasks: this machine's process groups (`local`), another host
over SSH (an agent's `host:`), or a Dask cluster (`executor: {dask: ...}`). One executor per
place, shared by the agents that name it (one SSH connection per host); the run closes them all.

The remote executors register themselves in `REMOTE` by the place's kind (`ssh`, `dask`), so
that this module imports none of their libraries (asyncssh, distributed) when a plan needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from phasegate.engine.exec.base import Adopting, Executor
from phasegate.engine.plan.model import Agent

# kind -> (the agent's place key, the agent) -> its executor; filled by the executors' modules
REMOTE: dict[str, Callable[[str, Agent], Executor]] = {}
_MODULES = {"ssh": "phasegate.engine.exec.ssh", "dask": "phasegate.engine.exec.dask"}


def place(agent: Agent) -> tuple[str, str]:
    """(kind, key) of where the agent's tasks run: ("local", ""), ("ssh", "user@host:port"),
    ("dask", "tcp://scheduler:8786")."""
    if agent.host is not None:
        return "ssh", agent.host
    if agent.executor is not None:
        return "dask", agent.executor.dask
    return "local", ""


class Executors:
    def __init__(self, agents: Mapping[str, Agent], local: Adopting) -> None:
        self.local = local
        self._agents = agents
        self._by_place: dict[tuple[str, str], Executor] = {("local", ""): local}

    def for_agent(self, name: str) -> Executor:
        """The executor of the agent's place, made on first use."""
        agent = self._agents.get(name)
        where = place(agent) if agent is not None else ("local", "")
        found = self._by_place.get(where)
        if found is None:
            assert agent is not None
            found = self._by_place[where] = _make(where, agent)
        return found

    def at(self, kind: str, key: str) -> Executor | None:
        """The executor of a place (made on first use), None when no agent names it."""
        name = next((n for n, a in self._agents.items() if place(a) == (kind, key)), None)
        return None if name is None else self.for_agent(name)

    def is_remote(self, name: str) -> bool:
        """Whether the agent's tasks run on another machine."""
        agent = self._agents.get(name)
        return agent is not None and place(agent)[0] != "local"

    def remote(self) -> dict[tuple[str, str], Executor]:
        """The executors of other places made so far."""
        return {k: e for k, e in self._by_place.items() if k[0] != "local"}

    def close(self) -> None:
        for executor in self._by_place.values():
            executor.close()


def _make(where: tuple[str, str], agent: Agent) -> Executor:
    kind, key = where
    if kind not in REMOTE:
        import importlib

        importlib.import_module(_MODULES[kind])  # (it registers itself)
    return REMOTE[kind](key, agent)


async def check_hosts(agents: Mapping[str, Agent]) -> list[dict[str, object]]:
    """Connect to every host the agents name and run `true` there: one entry per host, with
    its agents, the round trip in seconds, or the error (`phasegate plan` and `doctor`)."""
    import asyncio

    hosts: dict[str, list[str]] = {}
    for name, agent in agents.items():
        if agent.host is not None:
            hosts.setdefault(agent.host, []).append(name)
    if not hosts:
        return []
    from phasegate.engine.exec.ssh_connect import check_host  # (asyncssh: a plan with hosts)

    async def one(host: str, names: list[str]) -> dict[str, object]:
        rtt, error = await check_host(host, agents[names[0]].ssh)
        return {"host": host, "agents": names, "rtt": rtt, "error": error}

    return list(await asyncio.gather(*(one(h, n) for h, n in hosts.items())))
