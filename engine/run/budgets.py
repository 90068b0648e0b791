"""Budgets, a part of the run: what coding agents spend (the `task.usage` their CLIs report:
dollars, tokens, turns) and the wall time of the tasks' attempts, summed per task, per agent,
per phase and for the run, against the plan's `budget:`s. A task is admitted with its forecast:
what it cost in the plan's earlier runs (the median, from history); one that would overrun a
dollar budget whose action is `stop` is not started (it ends `failed`), for the others a risk
warns. At 80% a warning risk; at 100% a high risk and the budget's action, once (its open high
risk, in the fold, says it acted): `stop` (the scope's running tasks are stopped, and none of
its tasks starts again: each ends `failed`, its budget spent; judged as of the moment a task
would start, not only on the tick), `pause` (the run pauses until an operator resumes it; the
resume acknowledges it, an audit row, and it does not pause the run again) or `ask` (the run
pauses with the question; resuming it extends the budget by its size once more, a
`budget.extended` event, so a take-over knows it). A phase's budget acts no more once the phase
has ended, nor a task's once the task has."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.statuses import RunStatus, Severity, TaskStatus

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
        self._pausing: set[str] = set()  # scopes whose `pause` holds the run (until resumed)
        # scope -> (when, seconds used, tasks running) at its last count: a task's start judges
        # a `stop` budget of wall time from it while it cannot be spent (a count is O(tasks))
        self._counted: dict[str, tuple[float, float, int]] = {}
        self._own = {t.id: t.budget for _, t in host.plan.tasks() if t.budget is not None}
        self._phases = {t.id: p for p, t in host.plan.tasks() if p.budget is not None}
        self.expected: dict[str, float] = {}  # task -> its median cost in earlier runs (loop)
        self._timed = [(s, b) for s, b in self._all() if b.seconds]  # (checked every tick)

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
        """Why the task may not start (a budget it spends from is spent, or its forecast would
        overrun a `stop` budget), or "". A `stop` budget of wall time is judged as of now (the
        tick may be a second behind): spent, the task is never spawned."""
        scopes = self.scopes(tid)
        if not scopes:  # (every task start asks: a plan without budgets pays nothing here)
            return self._admit(tid) if tid in self.expected else ""
        self._went_on()
        for scope, budget in scopes:
            timed = scope not in self.spent and budget.action == "stop" and budget.seconds
            if timed and not self._within(scope, budget):
                self._check(scope, budget, "")
            if scope in self.spent:
                return self.spent[scope]
        return self._admit(tid) if tid in self.expected else ""

    def _within(self, scope: str, budget: Budget) -> bool:
        """Can the scope's wall time not have reached its limit since its last count? At most
        each task running then, and each started since, ran all the time since. True: this task
        starts (counted as one more running)."""
        counted = self._counted.get(scope)
        if counted is None:
            return False
        when, used, running = counted
        if used + (running + 1) * (self._host.now() - when) >= self._limits(scope, budget)[3]:
            return False
        self._counted[scope] = (when, used, running + 1)
        return True

    def _admit(self, tid: str) -> str:
        """The task's expected cost against each dollar budget it spends from."""
        expected = self.expected.get(tid, 0.0)
        for scope, budget in self.scopes(tid):
            if not budget.usd or not expected:
                continue
            usd, limit = self._used(scope)[0], self._limits(scope, budget)[0]
            if usd + expected <= limit:
                continue
            why = (
                f"{tid} is expected to cost ${expected:.4f} (the median of its earlier runs); "
                f"with ${usd:.4f} spent, the budget of {scope} (${limit:g}) would be overrun"
            )
            if budget.action == "stop":
                return f"not admitted: {why}"
            key = f"{scope} forecast {tid}"
            if key not in self._warned:
                self._warned.add(key)
                self._risk(scope, "medium", why, "raise the budget, or skip the task", {})
        return ""

    def saw(self, usage: ev.TaskUsage) -> None:
        """A coding agent reported what it spent: check every budget it spends from."""
        reporter = "" if usage.partial else usage.task  # (a prompt that is done ends as it ends)
        for scope, budget in self.scopes(usage.task):
            self._check(scope, budget, reporter)

    def tick(self) -> None:
        """Once a second: the budgets of wall time (their tasks' attempts run on)."""
        self._went_on()
        for scope, budget in self._timed:
            if scope not in self.spent:
                self._check(scope, budget, "")

    def _check(self, scope: str, budget: Budget, reporter: str) -> None:
        if self._ended(scope):
            return  # (what it spent is done: nothing of it runs or starts to act on)
        used = self._used(scope)
        limits = self._limits(scope, budget)
        share = max(u / limit for u, limit in zip(used, limits, strict=True) if limit)
        what = _spent(used, limits)
        if share >= 1.0 and scope not in self.spent:
            risk = self._host.state.risks.get(f"budget:{scope}")
            if risk is not None and risk.open and risk.severity is Severity.HIGH:
                # it acted at these limits already (paused, or asks): once; a take-over knows a
                # spent `stop` budget by its risk
                why = str(risk.evidence.get("why", ""))
                if budget.action == "stop" and why:
                    self.spent[scope] = why
                return
            self._warned.add(scope)
            self._over(scope, budget, what, reporter)
        elif share >= WARN_AT and scope not in self._warned:
            self._warned.add(scope)
            risk = self._host.state.risks.get(f"budget:{scope}")
            if risk is not None and risk.open:
                return  # (warned before a take-over)
            self._risk(
                scope,
                "medium",
                f"{what}: {min(share, 0.99):.0%} of its budget",
                f"skip or cancel what can wait (at 100% {_WARN[budget.action]})",
                {"share": share},
            )

    def _ended(self, scope: str) -> bool:
        """A phase that has ended, or a task that has (and waits for no retry)."""
        state = self._host.state
        if scope.startswith("phase "):
            phase = state.phases.get(scope[6:])
            return phase is not None and phase.status.ended
        if scope.startswith("task "):
            task = state.tasks.get(scope[5:])
            return task is not None and task.status.terminal
        return False

    def _went_on(self) -> None:
        """The run its `pause` budget paused was resumed: the operator acknowledged the spent
        budget (an audit row), which does not pause the run again."""
        if not self._pausing or self._host.state.status is not RunStatus.RUNNING:
            return
        for scope in sorted(self._pausing):
            self._audit(
                "acknowledge",
                scope,
                True,
                f"the run was resumed past the spent budget of {scope}: it acted once and "
                "does not pause the run again",
            )
        self._pausing.clear()

    def extend(self, scope: str, by: str, who: Identity | None = None) -> None:
        """An operator resumed the run its spent budget paused with a question (`ask`): the
        budget grows by its size once more, and its tasks may start again. `who`: the sender
        of the resume, as the run's socket vouched for it (the audit row's uid and host)."""
        budget = next((b for s, b in self._all() if s == scope), None)
        if budget is None:
            return
        host = self._host
        where = who or Identity(by, -1, "")  # (no sender known: no uid, no host)
        host.emit(
            ev.BudgetExtended(
                host.now(),
                scope,
                by,
                budget.usd or 0.0,
                budget.tokens or 0,
                budget.turns or 0,
                budget.seconds or 0.0,
                where.uid,
                where.host,
                where.tty,
                where.ssh,
            )
        )
        self.spent.pop(scope, None)
        self._warned.discard(scope)
        risk = host.state.risks.get(f"budget:{scope}")
        if risk is not None and risk.open:  # (a budget's risk is its own: no tick clears it)
            host.emit(ev.RiskCleared(host.now(), risk.key, f"the budget was extended by {by}"))

    def _all(self) -> list[tuple[str, Budget]]:
        plan = self._host.plan
        found = [(f"task {t}", b) for t, b in self._own.items()]
        found += [(f"agent {a}", s.budget) for a, s in plan.agents.items() if s.budget]
        found += [(f"phase {p.id}", p.budget) for p in plan.phases if p.budget]
        return found + ([("run", plan.budget)] if plan.budget else [])

    def _limits(self, scope: str, budget: Budget) -> Amounts:
        """(dollars, tokens, turns, seconds) it may spend, with what operators added (0: no
        limit)."""
        extra = self._host.state.budget_extra.get(scope, {})
        return (
            (budget.usd or 0.0) + extra.get("usd", 0.0) if budget.usd else 0.0,
            (budget.tokens or 0) + extra.get("tokens", 0) if budget.tokens else 0.0,
            (budget.turns or 0) + extra.get("turns", 0) if budget.turns else 0.0,
            (budget.seconds or 0.0) + extra.get("seconds", 0.0) if budget.seconds else 0.0,
        )

    def _used(self, scope: str) -> Amounts:
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
        turns = float(sum(int(t.usage.get("turns", 0)) for t in tasks))
        now = self._host.now()
        # the wall time of the tasks' attempts: those that ended (the fold's) and those under
        # way; not the waits between them (a retry's backoff)
        running = [t for t in tasks if t.status is TaskStatus.RUNNING]
        seconds = sum(t.ran_s for t in tasks) + sum(
            max(0.0, now - (t.attempt_started_at or t.started_at or now)) for t in running
        )
        self._counted[scope] = (now, seconds, len(running))
        return usd, float(tokens), turns, seconds

    def _over(self, scope: str, budget: Budget, what: str, reporter: str) -> None:
        """`reporter`: the task whose report spent it (its prompt is done: it ends as it ends)."""
        host = self._host
        run = host.state.run_id
        spent = f"{what}: its budget is spent; {_EFFECT[budget.action]}"
        if budget.action == "pause":
            go_on = (
                f"resume the run to go on past it, once (p in the dashboard, or phasegate "
                f"resume {run}), or cancel it (phasegate cancel {run})"
            )
            self._risk(scope, "high", spent, go_on, {})
            self._pausing.add(scope)
            if host.state.status is RunStatus.PAUSED:  # (an operator's pause holds it already)
                self._audit("pause", scope, True, "the run is paused already: until resumed")
                return
            self._act("pause", scope, cmd.Pause(reason=f"the budget of {scope} is spent"))
            return
        if budget.action == "ask":
            question = (
                f"the budget of {scope} is spent ({what}): resume to extend it by "
                f"{_size(budget)}, or cancel the run"
            )
            extend = (
                f"resume the run to extend it by {_size(budget)} (a in the dashboard, or "
                f"phasegate resume {run}), or cancel it (phasegate cancel {run})"
            )
            self._risk(scope, "high", spent, extend, {})
            self.spent[scope] = f"the budget of {scope} is spent ({what}); nobody extended it"
            self._act("ask", scope, cmd.Pause(reason=question, ask=f"budget:{scope}"))
            return
        why = f"the budget of {scope} is spent ({what})"
        self.spent[scope] = why
        more = "for the next run, raise it in the plan (or give it `action: ask`)"
        self._risk(scope, "high", spent, more, {"why": why})
        stopped = [
            tid
            for tid, task in list(host.state.tasks.items())
            if tid != reporter
            and task.status is TaskStatus.RUNNING
            and scope in (s for s, _ in self.scopes(tid))
        ]
        named = f"; stopped: {', '.join(stopped)}" if stopped else ""
        self._audit("stop", scope, True, f"{why}: none of its tasks starts again{named}")
        for tid in stopped:
            self._control.handle(cmd.CancelTask(tid, why), "budget")

    def _act(self, kind: str, scope: str, command: cmd.Pause) -> None:
        """The budget's action, as a command of its own (an audit row, as a risk rule's is)."""
        ok, message = self._control.handle(command, "budget")
        self._audit(kind, scope, ok, message)

    def _audit(self, kind: str, scope: str, ok: bool, message: str) -> None:
        host = self._host
        target = "" if scope == "run" else scope
        host.emit(ev.CommandDone(host.now(), 0, kind, "budget", ok, message, target=target))

    def stopped(self, tids: list[str]) -> str:
        """Why these tasks ended badly, when a spent `stop` budget ended one of them (the
        run's reason says it, not only that the phase failed), or ""."""
        if not self.spent:
            return ""
        whys = set(self.spent.values())
        state = self._host.state.tasks
        return next((state[t].reason for t in tids if state[t].reason in whys), "")

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


Amounts = tuple[float, float, float, float]  # dollars, tokens, turns, seconds

# what a spent budget does, by its action (said in its risks)
_EFFECT = {
    "stop": "its running tasks are stopped and none of its tasks starts again",
    "pause": "the run is paused",
    "ask": "the run is paused with the question whether to extend it",
}
_WARN = {"stop": "its tasks are stopped", "pause": "the run pauses", "ask": "the run asks"}


def _spent(used: Amounts, limits: Amounts) -> str:
    """`$0.0120 of $0.01 and 1200 of 1000 tokens spent` (of the limits that are set)."""
    (usd, tokens, turns, seconds), (max_usd, max_tokens, max_turns, max_seconds) = used, limits
    parts = [f"${usd:.4f} of ${max_usd:g}"] if max_usd else []
    if max_tokens:
        parts.append(f"{tokens:.0f} of {max_tokens:.0f} tokens")
    if max_turns:
        parts.append(f"{turns:.0f} of {max_turns:.0f} turns")
    if max_seconds:
        parts.append(f"{_past(seconds, max_seconds)} of {format_duration(max_seconds)}")
    return " and ".join(parts) + " spent"


def _past(seconds: float, limit: float) -> str:
    """`2.04s` for 2.04 of 2 s (not `2.0s`): past its limit, what was spent never reads as it."""
    said = format_duration(seconds)
    if seconds <= limit or said != format_duration(limit):
        return said
    digits = 2
    while digits < 6 and f"{seconds:.{digits}f}" == f"{limit:.{digits}f}":
        digits += 1
    return f"{seconds:.{digits}f}s"


def _size(budget: Budget) -> str:
    """`$5 and 1000 tokens`: what the budget allows (what an extension adds)."""
    parts = [f"${budget.usd:g}"] if budget.usd else []
    if budget.tokens:
        parts.append(f"{budget.tokens} tokens")
    if budget.turns:
        parts.append(f"{budget.turns} turns")
    if budget.seconds:
        parts.append(format_duration(budget.seconds))
    return " and ".join(parts)
