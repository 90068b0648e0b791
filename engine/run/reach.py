"""Agents' hosts over SSH and Dask clusters, a part of the run: each SSH host's round trip,
measured when its connection is made and every EVERY seconds (an `agent.reached` event for each
of its agents, which the roster shows), and a host whose cut connection is being made again, a
risk until it is back; a Dask worker that died under a task, a risk on the task's agent until
the task's retry runs or for LOST_FOR seconds. Measuring never blocks the loop: each measure is
a task of its own."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from phasegate.engine.exec.executors import place
from phasegate.engine.model import events as ev
from phasegate.engine.watch.risks import Finding

if TYPE_CHECKING:
    from phasegate.engine.exec.executors import Executors
    from phasegate.engine.run.host import Host

EVERY = 30  # ticks (seconds) between two measures of a host's round trip
RULE = "host_unreachable"
WORKER_LOST = "worker_lost"
LOST_FOR = 60.0  # seconds a lost worker's risk stays when its task is not run again
Said = tuple[bool, float | None, str]  # what a measure told: reached, the round trip (ms), why not


class Reach:
    def __init__(self, host: Host, executors: Executors) -> None:
        self._host, self._executors = host, executors
        self._hosts: dict[str, list[str]] = {}  # user@host[:port] -> its agents
        for name, agent in host.plan.agents.items():
            kind, key = place(agent)
            if kind == "ssh":
                self._hosts.setdefault(key, []).append(name)
        self._measuring: dict[str, asyncio.Task[None]] = {}
        self._measured: dict[str, tuple[int, int]] = {}  # host -> (tick, its connections then)
        self._said: dict[str, Said] = {}  # host -> last told
        self._shown: set[object] = set()  # lost workers' risks raised once (held till then)
        self._cuts_seen: dict[str, int] = {}  # host -> its cuts made good that were told

    def tick(self, tick: int) -> None:
        """Measure each host whose connection is new, or not measured for EVERY ticks."""
        for key, names in self._hosts.items():
            ex: Any = self._executors.for_agent(names[0])
            last = self._measured.get(key)
            if ex.unreachable_since is not None:  # (the roster says so at once)
                self._tell(key, names, False, None, "its connection was cut; being made again")
            due = last is None or tick - last[0] >= EVERY or ex.connections != last[1]
            if due and key not in self._measuring:
                self._measured[key] = (tick, ex.connections)
                task = asyncio.get_running_loop().create_task(self._measure(key, names, ex))
                self._measuring[key] = task

    async def _measure(self, key: str, names: list[str], ex: Any) -> None:
        try:
            limit = max(5.0, 2 * ex.opts.connect_timeout)
            rtt_ms: float | None = round(await asyncio.wait_for(ex.ping(), limit) * 1000, 1)
            ok, detail = True, ""
        except Exception as exc:  # (whatever the link does, the run goes on)
            rtt_ms, ok = None, False
            detail = str(exc) or f"no answer ({type(exc).__name__})"
        finally:
            self._measuring.pop(key, None)
        self._measured[key] = (self._measured[key][0], ex.connections)
        self._tell(key, names, ok, rtt_ms, detail)

    def _tell(self, key: str, names: list[str], ok: bool, rtt_ms: float | None, why: str) -> None:
        host = self._host
        if _same(self._said.get(key), ok, rtt_ms, why) or host.state.finished_at is not None:
            return  # (nothing the roster would show differently, or the run is over)
        self._said[key] = (ok, rtt_ms, why)
        for name in names:
            host.emit(ev.AgentReached(host.now(), name, key, rtt_ms, ok, why))

    def findings(self) -> list[Finding]:
        """A host whose cut connection is being made again: a risk for each of its agents; a
        Dask worker that died under a task: a risk on the task's agent."""
        found: list[Finding] = []
        for (kind, key), ex in self._executors.remote().items():
            if kind == "dask":
                found += self._workers_lost(ex)
                continue
            since = getattr(ex, "unreachable_since", None)
            if kind == "ssh" and since is None:
                found += self._healed(key, ex)
            if kind != "ssh" or since is None:
                continue
            at = time.strftime("%H:%M:%S", time.localtime(since))
            timeout = getattr(getattr(ex, "opts", None), "connect_timeout", 0.0)
            for name in self._hosts.get(key, ()):
                found.append(
                    Finding(
                        f"{RULE}:{name}",
                        RULE,
                        "high",
                        f"agent {name}",
                        f"host {key} unreachable since {at}: its connection was cut and is "
                        "being made again",
                        "check the host or the network; its tasks fail after connect_timeout",
                        {"host": key, "since": since, "connect_timeout_s": timeout},
                    )
                )
        return found

    def _healed(self, key: str, ex: Any) -> list[Finding]:
        """A cut made good again since the last tick (within a second, say): a risk for one tick,
        so that the feed tells of it."""
        cuts = getattr(ex, "cuts", [])
        seen, self._cuts_seen[key] = self._cuts_seen.get(key, 0), len(cuts)
        if len(cuts) <= seen:
            return []
        since, took = cuts[-1]
        at = time.strftime("%H:%M:%S", time.localtime(since))
        return [
            Finding(
                f"{RULE}:{name}",
                RULE,
                "medium",
                f"agent {name}",
                f"host {key}: its connection was cut at {at} and made again after {took:.1f}s",
                "its tasks went on; check the network if it happens again",
                {"host": key, "since": since, "took_s": round(took, 2)},
            )
            for name in self._hosts.get(key, ())
        ]

    def _workers_lost(self, ex: Any) -> list[Finding]:
        """A Dask worker that died under a task: a risk until the task runs again (its retry
        started) or for LOST_FOR seconds, shown for a tick at least (a retry may start at once)."""
        tasks, now = self._host.state.tasks, time.time()
        ex.lost[:] = [
            lost
            for lost in ex.lost
            if lost not in self._shown
            or (
                now - lost.at < LOST_FOR
                and (lost.task not in tasks or tasks[lost.task].attempts <= lost.attempt)
            )
        ]
        self._shown &= set(ex.lost)
        found: list[Finding] = []
        for lost in ex.lost:
            self._shown.add(lost)
            task = tasks.get(lost.task)
            agent = task.agent if task is not None and task.agent else "?"
            at = time.strftime("%H:%M:%S", time.localtime(lost.at))
            found.append(
                Finding(
                    f"{WORKER_LOST}:{lost.task}",
                    WORKER_LOST,
                    "high",
                    f"agent {agent}",
                    f"Dask worker {lost.worker} died at {at} while it ran task {lost.task} "
                    f"(attempt {lost.attempt}): the task is lost, into its retry policy",
                    "check the worker's machine and the cluster's logs; its retry runs on "
                    "another worker",
                    {"worker": lost.worker, "task": lost.task, "attempt": lost.attempt},
                )
            )
        return found


def _same(
    said: tuple[bool, float | None, str] | None, ok: bool, rtt: float | None, why: str
) -> bool:
    """Whether a measure tells what the last one told (a round trip within 1 ms or a tenth)."""
    if said is None or said[0] != ok or said[2] != why:
        return False
    return rtt is None or said[1] is None or abs(rtt - said[1]) < max(1.0, said[1] / 10)
