"""Budgets, a part of the run: what coding agents spend (the `task.usage` their CLIs report:
dollars, tokens, turns), summed per task, per agent, per phase and for the run, against the
plan's `budget:`s. At 80% a warning risk; at 100% a high risk and the budget's action: `stop`
(the scope's running tasks are stopped, and none of its tasks starts again: each ends `failed`,
its budget spent), `pause` (the run pauses until an operator resumes it) or `ask` (the run
pauses with the question; resuming it extends the budget by its size once more, a
`budget.extended` event, so a take-over knows it)."""

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
        self._phases = {t.id: p for p, t in host.plan.tasks() if p.budget is not None}

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
        phase = self._phases.get(tid)
        if phase is not None and phase.budget is not None:
            found.append((f"phase {phase.id}", phase.budget))
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
            used = self._used(scope)
            limits = self._limits(scope, budget)
            share = max(u / limit for u, limit in zip(used, limits, strict=True) if limit)
            what = _spent(used, limits)
            if share >= 1.0 and scope not in self.spent:
                self._warned.add(scope)
                self._over(scope, budget, what, usage.task)
            elif share >= WARN_AT and scope not in self._warned:
                self._warned.add(scope)
                self._risk(scope, "medium", f"{what}: 80% of its budget", "", {"share": share})

    def extend(self, scope: str, by: str) -> None:
        """An operator resumed the run its spent budget paused with a question (`ask`): the
        budget grows by its size once more, and its tasks may start again."""
        budget = next((b for s, b in self._all() if s == scope), None)
        if budget is None:
            return
        host = self._host
        host.emit(
            ev.BudgetExtended(
                host.now(), scope, by, budget.usd or 0.0, budget.tokens or 0, budget.turns or 0
            )
        )
        self.spent.pop(scope, None)
        self._warned.discard(scope)

    def _all(self) -> list[tuple[str, Budget]]:
        plan = self._host.plan
        found = [(f"task {t}", b) for t, b in self._own.items()]
        found += [(f"agent {a}", s.budget) for a, s in plan.agents.items() if s.budget]
        found += [(f"phase {p.id}", p.budget) for p in plan.phases if p.budget]
        return found + ([("run", plan.budget)] if plan.budget else [])

    def _limits(self, scope: str, budget: Budget) -> tuple[float, float, float]:
        """(dollars, tokens, turns) it may spend, with what operators added (0: no limit)."""
        extra = self._host.state.budget_extra.get(scope, {})
        return (
            (budget.usd or 0.0) + extra.get("usd", 0.0) if budget.usd else 0.0,
            (budget.tokens or 0) + extra.get("tokens", 0) if budget.tokens else 0.0,
            (budget.turns or 0) + extra.get("turns", 0) if budget.turns else 0.0,
        )

    def _used(self, scope: str) -> tuple[float, float, float]:
        state = self._host.state
        tasks = list(state.tasks.values())
        if scope.startswith("task "):
            tasks = [state.tasks[scope[5:]]]
        elif scope.startswith("agent "):
            tasks = [t for t in tasks if t.agent == scope[6:]]
        elif scope.startswith("phase "):
            tasks = [t for t in tasks if t.phase == scope[6:]]
        usd = sum(float(t.usage.get("cost_usd", 0.0)) for t in tasks)
        tokens = sum(
            int(t.usage.get("input_tokens", 0)) + int(t.usage.get("output_tokens", 0))
            for t in tasks
        )
        return usd, float(tokens), float(sum(int(t.usage.get("turns", 0)) for t in tasks))

    def _over(self, scope: str, budget: Budget, what: str, reporter: str) -> None:
        """`reporter`: the task whose report spent it (its prompt is done: it ends as it ends)."""
        host = self._host
        if budget.action == "pause":
            self._risk(scope, "high", f"{what}: its budget is spent", "the run is paused", {})
            self._control.handle(cmd.Pause(reason=f"the budget of {scope} is spent"), "budget")
            return
        if budget.action == "ask":
            question = (
                f"the budget of {scope} is spent ({what}): resume to extend it by "
                f"{_size(budget)}, or cancel the run"
            )
            self._risk(scope, "high", f"{what}: its budget is spent", "asks the operator", {})
            self.spent[scope] = f"the budget of {scope} is spent ({what}); nobody extended it"
            self._control.handle(cmd.Pause(reason=question, ask=f"budget:{scope}"), "budget")
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


def _spent(used: tuple[float, float, float], limits: tuple[float, float, float]) -> str:
    """`$0.0120 of $0.01 and 1200 of 1000 tokens spent` (of the limits that are set)."""
    (usd, tokens, turns), (max_usd, max_tokens, max_turns) = used, limits
    parts = [f"${usd:.4f} of ${max_usd:g}"] if max_usd else []
    if max_tokens:
        parts.append(f"{tokens:.0f} of {max_tokens:.0f} tokens")
    if max_turns:
        parts.append(f"{turns:.0f} of {max_turns:.0f} turns")
    return " and ".join(parts) + " spent"


def _size(budget: Budget) -> str:
    """`$5 and 1000 tokens`: what the budget allows (what an extension adds)."""
    parts = [f"${budget.usd:g}"] if budget.usd else []
    if budget.tokens:
        parts.append(f"{budget.tokens} tokens")
    if budget.turns:
        parts.append(f"{budget.turns} turns")
    return " and ".join(parts)
