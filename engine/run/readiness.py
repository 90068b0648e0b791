"""Initialisation, a part of the run: the event that announces a run (its phases, tasks with
their estimates, gates and agents), the plan's and each phase's checks, agent readiness probes,
and the plan's research queries."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.capture import run_capture
from phasegate.engine.exec.executors import place
from phasegate.engine.model import events as ev
from phasegate.engine.plan.model import Checks
from phasegate.engine.run.checks import run_checks

if TYPE_CHECKING:
    from phasegate.engine.exec.base import Executor
    from phasegate.engine.exec.executors import Executors
    from phasegate.engine.model.identity import Identity
    from phasegate.engine.plan.model import Plan, Task
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.host import Host
    from phasegate.engine.store.base import Store
    from phasegate.engine.watch.history import Learned

PROBE_TIMEOUT = 30.0


def started_event(
    plan: Plan,
    plan_path: str,
    run_id: str,
    started: float,
    who: Identity,
    learned: dict[str, Learned],
    repo: tuple[str, str] = ("", ""),
) -> ev.RunStarted:
    """The run as it starts: what every front end and report folds from. `repo`: the git
    repository and commit that worktree attempts start from."""

    from phasegate.engine.watch.history import estimate_fields, retry_extra

    extra = retry_extra(learned)

    def estimate(t: Task) -> dict[str, object]:
        return estimate_fields(t.id, t.estimate, learned, extra)

    return ev.RunStarted(
        started,
        run_id,
        plan.name,
        plan_path,
        phases=[{"id": p.id, "title": p.title, "timebox": p.timebox} for p in plan.phases],
        tasks=[
            {
                "id": t.id,
                "phase": p.id,
                "agent": t.agent,
                "capability": t.capability,
                "needs": list(t.needs),
                **estimate(t),
                **({"priority": t.priority} if t.priority else {}),
            }
            for p, t in plan.tasks()
        ],
        gates=[
            {
                "id": g.id,
                "after": g.after,
                "approval": g.approval,
                "approvers": list(g.approvers),
                "quorum": g.quorum,
                **({"forbid_self_approval": True} if g.forbid_self_approval else {}),
            }
            for g in plan.gates
        ],
        operators=list(plan.roles.operators),
        agents=[
            {"id": a, "slots": s.slots, "capabilities": list(s.capabilities)}
            for a, s in plan.agents.items()
        ],
        user=who.user,
        host=who.host,
        uid=who.uid,
        tty=who.tty,
        ssh=who.ssh,
        repo=repo[0],
        base_commit=repo[1],
        feedback=plan.feedback.dump() if plan.feedback is not None else {},
    )


class Readiness:
    def __init__(
        self,
        host: Host,
        sched: Scheduler,
        values: dict[str, str],
        workdir: str,
        env: dict[str, str],
        executors: Executors | None = None,
    ) -> None:
        """`executors`: where each agent's tasks run (an agent's `ready` runs there too)."""
        self._host, self._sched, self._executors = host, sched, executors
        self._values, self._workdir, self._env = values, workdir, env
        # the probes, then the research queries, while they run: a cancel kills their commands
        # (run_capture kills a command's group when it is cancelled)
        self._under_way: asyncio.Future[Any] | None = None
        self._stopped = False

    def stop(self) -> None:
        """The run is cancelled: the probes or queries still running are killed, and tell
        nothing."""
        self._stopped = True
        if self._under_way is not None:
            self._under_way.cancel()

    async def _until_done(self, work: asyncio.Future[Any]) -> bool:
        """Wait for `work` (stopped by `stop`); False when it was stopped."""
        self._under_way = work
        try:
            await asyncio.wait({work})
        finally:
            self._under_way = None
        return not work.cancelled() and not self._stopped

    def checks(self, scope: str, checks: Checks | None) -> str:
        """Run preconditions (`checks:` of the plan or a phase); what failed, or ""."""
        host = self._host
        results = run_checks(checks, self._workdir, self._env)
        for name, passed, detail in results:
            host.emit(ev.CheckFinished(host.now(), scope, name, passed, detail))
        return "; ".join(f"{n}: {d}" for n, ok, d in results if not ok)

    async def probe_agents(self) -> None:
        """Each agent's `ready` command, in parallel: an agent that fails it takes no task."""
        host = self._host

        async def probe(name: str, command: str) -> None:
            argv, command = command_argv(command, self._values)
            executor: Executor | None = None
            where = ""
            kind, key = place(host.plan.agents[name])
            if kind == "ssh" and self._executors is not None:  # probed there, over its link
                executor, where = self._executors.for_agent(name), f" on {key}"
            result = await run_capture(argv, self._workdir, self._env, PROBE_TIMEOUT, 20, executor)
            if self._stopped:
                return
            ok = result.code == 0
            if ok:
                detail = "ready"
            elif result.code is not None:
                said = f": {result.error}" if result.error else " (it printed nothing)"
                detail = f"`{command}` exited {result.code}{where}{said}"
            else:
                detail = f"`{command}`{where}: {result.error}"
            self._sched.set_ready(name, ok)
            host.emit(ev.AgentProbed(host.now(), name, ok, detail))

        ready = {a: s.ready for a, s in host.plan.agents.items() if s.ready}
        if not ready or self._stopped:
            return
        probing = asyncio.gather(*(probe(a, command) for a, command in ready.items()))
        if await self._until_done(probing):
            probing.result()  # (a probe's own error goes on, as it did)

    async def research(self, store: Store) -> None:
        """The plan's research queries, asked as the first phase starts (in parallel)."""
        from phasegate.engine.run.research import ask_all  # (not on every run's start-up path)

        host = self._host
        run_id, values, workdir, env = host.state.run_id, self._values, self._workdir, self._env
        queries = host.plan.research
        limit = max((q.timeout for q in queries if q.provider != "history"), default=0.0)
        host.emit(ev.ResearchStarted(host.now(), [q.id for q in queries], limit))
        asking = asyncio.ensure_future(
            ask_all(host.plan, store, run_id, values, workdir, env, host.now())
        )
        if not await self._until_done(asking):  # (the run stopped: its queries are killed)
            return
        found = asking.result()
        for event in found:
            host.emit(event)
