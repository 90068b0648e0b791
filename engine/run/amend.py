"""Amendments of a live run, a part of the run: an operator's `amend` command (a new version of
the plan) is checked against the run's state (engine/plan/amend.py), its impact simulated, and
put to a change gate (`change-N`) that its approvers decide like a quality gate: the plan's
`roles.changes`, by default the run's starter, and, when it weakens a gate the run has not
passed, that gate's approvers under its rules (engine/run/amend_oversight.py); every vote and
refusal an audit row. Approved, it
is applied: a `plan.amended` event carries the new text and the difference (the fold gains and
loses tasks from it, and a take-over loads that text), and the run's parts follow the new plan:
the task graph, the scheduler, the phase under way, the gates, the agents."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import PlanError
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.statuses import GateStatus, TaskStatus
from phasegate.engine.plan.amend import diff, estimated, refusals, reworked
from phasegate.engine.plan.dag import build
from phasegate.engine.plan.load import plan_from_text
from phasegate.engine.plan.model import Plan
from phasegate.engine.plan.scheduler import Scheduler
from phasegate.engine.run import amend_oversight as oversight
from phasegate.engine.run.gates import may_decide, out_of_reach
from phasegate.engine.watch.history import Learned, estimate_fields, retry_extra
from phasegate.engine.watch.impact import impact
from phasegate.engine.watch.risks import Tuning

if TYPE_CHECKING:
    from phasegate.engine.run.loop import Runner


def shape(
    plan: Plan,
    changes: list[dict[str, Any]],
    learned: dict[str, Learned] | None = None,
    rework: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The run's shape after an amendment, as `plan.amended` carries it: each task's estimate
    from `learned` (the plan's earlier runs, as the run's start took it) unless an amendment
    changed its work (`rework`: those runs did other work), else the plan's."""
    slots = {c["id"] for c in changes if c["what"] == "agent" and c["change"] != "removed"}
    learned = learned or {}
    extra = retry_extra(learned)
    return {
        "phases": [{"id": p.id, "title": p.title, "timebox": p.timebox} for p in plan.phases],
        "tasks": [
            {
                "id": t.id,
                "phase": p.id,
                "agent": t.agent,
                "capability": t.capability,
                "needs": list(t.needs),
                "p90": None,  # (said: an older amendment's event left the p90 as it was)
                "retry_s": 0.0,
                **(
                    {"estimate": t.estimate}
                    if t.id in rework
                    else estimate_fields(t.id, t.estimate, learned, extra)
                ),
                **({"priority": t.priority} if t.priority else {}),
            }
            for p, t in plan.tasks()
        ],
        "gates": [
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
        "agents": [{"id": a, "slots": plan.agents[a].slots} for a in sorted(slots)],
        "operators": list(plan.roles.operators),
    }


def unreachable(
    new: Plan, changes: list[dict[str, Any]], starter: str, share: int | None = None
) -> list[str]:
    """A gate that the amendment adds or changes and that could never pass in this run (shared
    with group id `share`), as the run's start refuses one: too few of the people who could
    decide it here (out_of_reach)."""
    touched = {c["id"] for c in changes if c["what"] == "gate" and c["change"] != "removed"}
    found = out_of_reach([g for g in new.gates if g.id in touched], starter, share)
    if not found:
        return []
    return [*found, "add an approver or lower the quorum; nothing was changed"]


def taken(new: Plan, changes: Collection[str]) -> list[str]:
    """A gate of the new plan named as a change gate of this run's amendments: `approve` could
    not tell the two apart."""
    return [
        f"gate id '{g.id}' is this run's change gate {g.id} (an amendment's): rename the gate"
        for g in new.gates
        if g.id in changes
    ]


def change_id(changes: Collection[str], gates: Collection[str]) -> str:
    """The id of the change gate a new amendment opens: `change-N`, N one more than the
    amendments so far, skipping any id a gate of the plan already has (the two would be one
    gate to `approve`, and the run could decide neither)."""
    n = len(changes) + 1
    while f"change-{n}" in changes or f"change-{n}" in gates:
        n += 1
    return f"change-{n}"


class Amendments:
    def __init__(self, runner: Runner) -> None:
        self._r = runner
        self._proposed: dict[str, tuple[Plan, tuple[str, ...]]] = {}
        self._saving: set[asyncio.Task[None]] = set()

    # -- the command --------------------------------------------------------------------------

    def read(self, text: str, path: str) -> Plan:
        r = self._r
        base = r.plan.plan_dir if r.plan.path else os.getcwd()  # (the file's, as at its start)
        # (the run's own file name: a plan's directory decides where its tasks run)
        return plan_from_text(text, path or r.plan.path, base, list(r._given))

    def propose(self, number: int, order: cmd.Amend, who: Identity) -> tuple[bool, str]:
        r = self._r
        state = r.state
        try:
            new = self.read(order.text, order.path)
        except PlanError as exc:
            lines = [str(p) for p in exc.problems if not getattr(p, "warning", False)]
            return False, "the new plan is not valid: " + "; ".join(lines)
        changes = diff(r.plan, new)
        if not changes:
            return False, "the new plan is the plan the run follows: nothing to change"
        why = refusals(r.plan, new, changes, state, order.restarts)
        why += unreachable(new, changes, state.user, r.share) + taken(new, state.changes)
        needs = oversight.needs(r.plan, changes, state.user, who.user)
        why += oversight.unreachable(needs)
        if why:
            return False, "refused: " + "; ".join(why)
        if any(c.status is GateStatus.OPEN for c in state.changes.values()):
            opened = next(c.id for c in state.changes.values() if c.status is GateStatus.OPEN)
            return False, f"{opened} waits for a decision: decide it first"
        change = change_id(
            state.changes, {*state.gates, *(g.id for g in (*r.plan.gates, *new.gates))}
        )
        found = impact(r.plan, new, state, r.now(), order.restarts)
        approvers = oversight.approvers(needs)
        r.emit(
            ev.ChangeProposed(
                r.now(),
                change,
                who.user,
                who.uid,
                oversight.annotated(changes, needs),
                found,
                approvers,
                order.text,
                order.path,
                list(order.restarts),
                command=number,
            )
        )
        self._proposed[change] = (new, order.restarts)
        if oversight.gate_needs(needs):
            return True, f"{change} waits for {oversight.waiting(needs, ())}"
        whom = ", ".join(approvers) or f"{state.user} (the run's starter)"
        return True, f"{change} waits for a decision by {whom}"

    def decide(self, number: int, order: cmd.Approve | cmd.Reject, who: Identity) -> None:
        r = self._r
        state = r.state
        change = state.changes[order.gate]
        kind = order.kind.value
        why = ""
        # (from the plan the run follows, which no amendment changes while one is open: an
        # engine that took the run over counts the votes given before alike)
        needs = oversight.needs(r.plan, change.diff, state.user, change.by)
        weakens = bool(oversight.gate_needs(needs))
        if r._ending:  # (applied now, it would start work after the run's end)
            why = f"the run's work has ended: {change.id} can no longer be applied"
        elif change.status is not GateStatus.OPEN:
            why = f"{change.id} is not waiting for a decision: it {change.status.value}"
        elif kind == "reject" and not order.reason.strip():
            why = "a rejection needs a reason: --reason TEXT"
        elif weakens:
            why = oversight.refusal(needs, change.id, who.user, kind, change.approved_by)
        elif change.approvers and not may_decide(change.approvers, who.user):
            why = f"{who.user} may not decide {change.id}; approvers: {', '.join(change.approvers)}"
        elif not change.approvers and who.user != state.user:
            why = (
                f"{who.user} may not decide {change.id}: the run's starter ({state.user}) "
                "decides its changes (the plan's roles.changes names others)"
            )
        context = {"host": who.host, "tty": who.tty, "ssh": who.ssh, "reason": order.reason}
        if why:
            r.emit(
                ev.GateRefused(
                    r.now(), change.id, kind, who.user, who.uid, why, command=number, **context
                )
            )
            return
        r.emit(ev.GateVoted(r.now(), change.id, kind, who.user, who.uid, command=number, **context))
        if kind == "reject":
            r.emit(
                ev.ChangeClosed(
                    r.now(), change.id, "rejected", f"rejected by {who.user}: {order.reason}"
                )
            )
            self._proposed.pop(change.id, None)
            return
        if weakens and not all(n.met(change.approved_by) for n in needs):
            return  # (the vote is in the fold now: it waits for more)
        self.apply(change.id, ", ".join(change.approved_by) if weakens else who.user)

    def close_open(self) -> None:
        """As the run ends: an amendment still at its change gate can no longer be decided.
        Closed, so that its prompts close and its trail says why (it stayed `open`)."""
        r = self._r
        for change in r.state.changes.values():
            if change.status.value == "open":
                r.emit(ev.ChangeClosed(r.now(), change.id, "refused", ev.UNDECIDED))
        self._proposed.clear()

    # -- applying it --------------------------------------------------------------------------

    def apply(self, change: str, by: str) -> None:
        r = self._r
        state = r.state
        new, restart = self._proposed.pop(change, (None, ()))
        if new is None:  # (proposed before a take-over: its text is in the event)
            found = state.changes[change]
            text, path = self._text_of(change)
            new, restart = self.read(text, path), tuple(found.restart)
        changes = diff(r.plan, new)
        why = refusals(r.plan, new, changes, state, restart)
        if why:
            r.emit(
                ev.ChangeClosed(
                    r.now(), change, "refused", "the run has moved on: " + "; ".join(why)
                )
            )
            return
        # what the phase under way counts as left: tasks removed from it that had not settled
        gone = {c["id"] for c in changes if c["what"] == "task" and c["change"] == "removed"}
        unsettled = {t for t in gone if t in state.tasks and not state.tasks[t].status.terminal}
        r.emit(ev.ChangeClosed(r.now(), change, "passed", f"approved by {by}"))
        version = len(state.amendments) + 2
        r.redactor.keep |= new.names()  # (a task it adds is a name, never a key's shape)
        # (the history's estimates stand for the tasks whose work and estimate no amendment
        # changed)
        done = [*state.amendments, {"diff": changes}]
        agent_of = {t.id: t.agent for _, t in new.tasks()}
        agent_of.update({t: s.agent for t, s in state.tasks.items() if s.agent})
        rework = reworked(done, agent_of) | estimated(done)
        fields = shape(new, changes, r._monitoring.learned, rework)
        r.emit(ev.PlanAmended(r.now(), change, version, by, new.text, changes, **fields))
        saving = r.store.save_plan_version(
            state.run_id, version, r.redactor.text(new.text), change, r.now()
        )
        task = asyncio.get_running_loop().create_task(saving)
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)
        self.rewire(new, changes, gone, unsettled, restart, change)

    def _text_of(self, change: str) -> tuple[str, str]:
        found = self._r.state.changes[change]
        return found.text, found.path

    def rewire(
        self,
        plan: Plan,
        changes: list[dict[str, Any]],
        gone: set[str],
        unsettled: set[str],
        restart: tuple[str, ...],
        change: str,
    ) -> None:
        """The run's parts follow the new plan (the fold has it already)."""
        r = self._r
        state = r.state
        r.plan = plan
        graph = build(plan, r.estimates)  # (history's estimates, as at the run's start)
        for f in msgspec.structs.fields(graph):
            setattr(r._graph, f.name, getattr(graph, f.name))
        s, fresh = r._sched, Scheduler.for_plan(plan, r._graph)
        for tid in gone:
            s.drop(tid)
        s.candidates.update(fresh.candidates)
        s.uses.update(fresh.uses)
        for tid, (_, rank, order) in fresh.key.items():
            s.key[tid] = (-state.tasks[tid].priority, rank, order)
        for agent, slots in fresh.slots.items():
            if agent not in s.slots:
                s.slots[agent], s.free_slots[agent] = slots, slots
                s.ready_agents.add(agent)
                s._free_total += slots
            elif slots != s.slots[agent] and any(
                c["what"] == "agent" and c["id"] == agent for c in changes
            ):
                s.set_slots(agent, slots)
        for res, cap in fresh.capacity.items():
            s.free_res[res] = s.free_res.get(res, cap) + cap - s.capacity.get(res, 0)
            s.capacity[res] = cap
        tasks = {t.id: t for _, t in plan.tasks()}
        for held in (r._tasks, r._attempts._tasks):
            held.clear()
            held.update(tasks)
        r._attempts._adapters.update(
            {a: adapter_for(a, spec, r._values) for a, spec in plan.agents.items()}
        )
        r._executors._agents = plan.agents
        keeper = r._keeper
        keeper._gates = {g.id: g for g in plan.gates}
        keeper._outputs = {
            p.id: [o for t in p.tasks for o in t.outputs if "{" not in o] for p in plan.phases
        }
        r._monitoring._tuning = Tuning.of(plan)
        self._notify(plan)
        r._monitoring._phase_lengths.clear()  # (phases' simulated lengths: their tasks changed)
        self._phase_under_way(plan, gone, unsettled)
        for tid in restart:
            r._attempts.restart(
                tid, r.plan.kill_grace, f"restarted by {change}: its command changed"
            )
        r.dispatch()
        r._progress.check_done()

    def _notify(self, plan: Plan) -> None:
        """The plan's `notify:` command from now on (without one, nobody is told)."""
        notifier, listeners = self._r._notifier, self._r._listeners
        notifier._command = plan.notify
        if plan.notify and notifier.saw not in listeners:
            listeners.append(notifier.saw)
        elif not plan.notify and notifier.saw in listeners:
            listeners.remove(notifier.saw)

    def _phase_under_way(self, plan: Plan, gone: set[str], unsettled: set[str]) -> None:
        r = self._r
        progress, state = r._progress, r.state
        if not progress.under_way:
            return
        phase = next(
            (p for p in plan.phases if set(progress.tasks) & {t.id for t in p.tasks}), None
        )
        if phase is None:
            return
        for tid in gone & progress.tasks:
            progress.tasks.discard(tid)
            progress.waiting.pop(tid, None)
            if tid in unsettled:
                progress.remaining -= 1
        for task in phase.tasks:
            tid = task.id
            t = state.tasks[tid]
            if tid not in progress.tasks:
                progress.tasks.add(tid)
                progress.remaining += 1
            elif t.status is not TaskStatus.PENDING:
                continue
            progress.waiting[tid] = 0
            blocked = next((n for n in r._graph.needs[tid] if progress.blocks(n)), None)
            if blocked is not None:
                progress.block(tid, f"needs '{blocked}', which ended badly")
                continue
            progress.waiting[tid] = sum(1 for n in r._graph.needs[tid] if not progress.satisfied(n))
            if progress.waiting[tid] == 0:
                progress.make_ready(tid)
