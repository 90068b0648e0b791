"""Budgets, a part of the run: what coding agents spend (the `task.usage` their CLIs report),
summed per task, per agent and for the run, against the plan's `budget:`s. At 80% a warning
risk; at 100% a high risk and the budget's action: `stop` (the scope's running tasks are
stopped, and none of its tasks starts again: each ends `failed`, its budget spent) or `pause`
(the run pauses until an operator resumes it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import TaskStatus

if TYPE_CHECKING:
    from phasegate.engine.plan.model import Budget
    from phasegate.engine.run.control import OperatorControl
    from phasegate.engine.run.host import Host

WARN_AT = 0.8


class Budgets:
    def __init__(self, host: Host, control: OperatorControl) -> None:
        self._host, self._control = host, control
        self._warned: set[str] = set()
        self.spent: dict[str, str] = {}  # scope -> why its tasks do not start again (stop)
        self._own = {t.id: t.budget for _, t in host.plan.tasks() if t.budget is not None}

    def scopes(self, tid: str) -> list[tuple[str, Budget]]:
        """The budgets a task spends from: its own, its agent's, the run's."""
        plan, task = self._host.plan, self._host.state.tasks.get(tid)
        found: list[tuple[str, Budget]] = []
        own = self._own.get(tid)
        if own is not None:
            found.append((f"task {tid}", own))
        name = task.agent if task is not None else None
        agent = plan.agents.get(name) if name else None
        if agent is not None and agent.budget is not None:
            found.append((f"agent {name}", agent.budget))
        if plan.budget is not None:
            found.append(("run", plan.budget))
        return found

    def blocked(self, tid: str) -> str:
        """Why the task may not start (a budget it spends from is spent), or ""."""
        if not self.spent:  # (every task start asks: nothing to look up until one is spent)
            return ""
        for scope, _ in self.scopes(tid):
            if scope in self.spent:
                return self.spent[scope]
        return ""

    def saw(self, usage: ev.TaskUsage) -> None:
        """A coding agent reported what it spent: check every budget it spends from."""
        for scope, budget in self.scopes(usage.task):
            usd, tokens = self._used(scope)
            share = max(
                usd / budget.usd if budget.usd else 0.0,
                tokens / budget.tokens if budget.tokens else 0.0,
            )
            what = _spent(usd, tokens, budget)
            if share >= 1.0 and scope not in self.spent:
                self._warned.add(scope)
                self._over(scope, budget, what, usage.task)
            elif share >= WARN_AT and scope not in self._warned:
                self._warned.add(scope)
                self._risk(scope, "medium", f"{what}: 80% of its budget", "", {"share": share})

    def _used(self, scope: str) -> tuple[float, int]:
        state = self._host.state
        tasks = list(state.tasks.values())
        if scope.startswith("task "):
            tasks = [state.tasks[scope[5:]]]
        elif scope.startswith("agent "):
            tasks = [t for t in tasks if t.agent == scope[6:]]
        usd = sum(float(t.usage.get("cost_usd", 0.0)) for t in tasks)
        tokens = sum(
            int(t.usage.get("input_tokens", 0)) + int(t.usage.get("output_tokens", 0))
            for t in tasks
        )
        return usd, tokens

    def _over(self, scope: str, budget: Budget, what: str, reporter: str) -> None:
        """`reporter`: the task whose report spent it (its prompt is done: it ends as it ends)."""
        host = self._host
        if budget.action == "pause":
            self._risk(scope, "high", f"{what}: its budget is spent", "the run is paused", {})
            self._control.handle(cmd.Pause(reason=f"the budget of {scope} is spent"), "budget")
            return
        why = f"the budget of {scope} is spent ({what})"
        self.spent[scope] = why
        self._risk(scope, "high", f"{what}: its budget is spent", "its tasks are stopped", {})
        for tid, task in list(host.state.tasks.items()):
            if tid == reporter or task.status is not TaskStatus.RUNNING:
                continue
            if scope in (s for s, _ in self.scopes(tid)):
                self._control.handle(cmd.CancelTask(tid, why), "budget")

    def _risk(
        self, scope: str, severity: str, message: str, action: str, evidence: dict[str, object]
    ) -> None:
        host = self._host
        host.emit(
            ev.RiskRaised(
                host.now(), f"budget:{scope}", "budget", severity, scope, message, action,
                dict(evidence),
            )
        )  # fmt: skip


def _spent(usd: float, tokens: int, budget: Budget) -> str:
    parts = []
    if budget.usd:
        parts.append(f"${usd:.4f} of ${budget.usd:g}")
    if budget.tokens:
        parts.append(f"{tokens} of {budget.tokens} tokens")
    return " and ".join(parts) + " spent"
