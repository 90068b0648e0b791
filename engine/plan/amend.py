"""Amending a live run's plan: the difference between the plan the run follows and a new version,
task by task (added, removed, changed fields), agents and slots, resources, gates, phases and
their timeboxes, risk rules and roles; and what in it the run's state refuses, each with its
reason. Pure: the engine (engine/run/amend.py) and the front ends judge with the same code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import BAD, GateStatus, PhaseStatus, TaskStatus

if TYPE_CHECKING:  # (annotations only: reading a run needs no plan model)
    from phasegate.engine.plan.model import Plan

Change = dict[str, Any]  # {"what", "id", "change": added|removed|changed, "fields", "phase"}

COMMAND_FIELDS = ("run", "prompt")  # what `--restart TASK` lets change on a running task
_FINISHED = (PhaseStatus.SUCCEEDED, PhaseStatus.FAILED, PhaseStatus.CANCELLED)
_NOT_STARTED = (TaskStatus.PENDING, TaskStatus.READY, TaskStatus.BLOCKED)


def _fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    }


def _by_id(
    what: str, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> list[Change]:
    out: list[Change] = []
    for key, value in new.items():
        if key not in old:
            out.append({"what": what, "id": key, "change": "added", **_where(value)})
        elif fields := _fields(old[key], value):
            out.append({"what": what, "id": key, "change": "changed", "fields": fields})
    out += [{"what": what, "id": k, "change": "removed"} for k in old if k not in new]
    return out


def _where(value: dict[str, Any]) -> dict[str, Any]:
    return {"phase": value["_phase"]} if "_phase" in value else {}


def _tasks(plan: Plan) -> dict[str, dict[str, Any]]:
    return {t.id: {**t.dump(exclude=("id",)), "_phase": p.id} for p, t in plan.tasks()}


def diff(old: Plan, new: Plan) -> list[Change]:
    """Every difference between two versions of a plan, in a stable order."""
    out: list[Change] = []
    old_tasks, new_tasks = _tasks(old), _tasks(new)
    for change in _by_id("task", old_tasks, new_tasks):
        fields = change.get("fields", {})
        if "_phase" in fields:
            fields["phase"] = fields.pop("_phase")
        out.append(change)
    out += _by_id(
        "phase",
        {p.id: p.dump(exclude=("id", "tasks")) for p in old.phases},
        {p.id: p.dump(exclude=("id", "tasks")) for p in new.phases},
    )
    out += _by_id(
        "agent",
        {a: s.dump() for a, s in old.agents.items()},
        {a: s.dump() for a, s in new.agents.items()},
    )
    out += _by_id(
        "resource",
        {r: s.dump() for r, s in old.resources.items()},
        {r: s.dump() for r, s in new.resources.items()},
    )
    out += _by_id(
        "gate",
        {g.id: g.dump(exclude=("id",)) for g in old.gates},
        {g.id: g.dump(exclude=("id",)) for g in new.gates},
    )
    for what, a, b in (
        ("risks", old.risks.dump(), new.risks.dump()),
        ("roles", old.roles.dump(), new.roles.dump()),
        (
            "monitors",
            {"monitors": [m.dump() for m in old.monitors]},
            {"monitors": [m.dump() for m in new.monitors]},
        ),
    ):
        if fields := _fields(a, b):
            out.append({"what": what, "id": what, "change": "changed", "fields": fields})
    if old.name != new.name:
        out.append(
            {
                "what": "plan",
                "id": "name",
                "change": "changed",
                "fields": {"name": [old.name, new.name]},
            }
        )
    return out


def refusals(
    old: Plan, new: Plan, changes: list[Change], state: RunState, restart: tuple[str, ...] = ()
) -> list[str]:
    """Why the run cannot take these changes now (nothing: it can)."""
    why: list[str] = []
    tasks, phases = state.tasks, state.phases
    new_tasks = {t.id: (p.id, t) for p, t in new.tasks()}
    for c in changes:
        what, key, kind = c["what"], c["id"], c["change"]
        if what == "plan":
            why.append("the plan's name cannot change: it names the run and its history")
        elif what == "task":
            why += _task(key, kind, c.get("fields", {}), state, restart, new_tasks)
        elif what == "phase":
            ps = phases.get(key)
            if kind != "added" and ps is not None and ps.status is not PhaseStatus.PENDING:
                verb = "removed" if kind == "removed" else "changed"
                why.append(f"phase '{key}' is {ps.status.value}: it cannot be {verb}")
        elif what == "gate":
            if kind != "added":
                why += _gate_under_way(key, kind, state)
            after = (
                new.gates[[x.id for x in new.gates].index(key)].after if kind != "removed" else ""
            )
            pa = phases.get(after)
            was = state.gates.get(key)
            moved = kind == "added" or (was is not None and was.after != after)
            if moved and kind != "removed" and pa is not None and pa.status in _FINISHED:
                why.append(
                    f"gate '{key}' would follow phase '{after}', which has finished: "
                    "it would never open"
                )
        elif what == "agent" and kind == "removed":
            busy = [
                t.id for t in tasks.values() if t.agent == key and t.status is TaskStatus.RUNNING
            ]
            if busy:
                why.append(f"agent '{key}' runs {', '.join(busy)}: it cannot be removed now")
    why += _phase_order(old, new, state)
    for tid in restart:
        t = tasks.get(tid)
        changed = any(
            c["what"] == "task" and c["id"] == tid and c["change"] == "changed" for c in changes
        )
        if t is None and tid not in new_tasks:
            known = ", ".join(sorted(tasks)[:20]) or "none"
            why.append(f"--restart {tid}: this run has no task '{tid}'; its tasks: {known}")
        elif t is None or t.status is not TaskStatus.RUNNING:
            why.append(f"--restart {tid}: it is not running")
        elif not changed:
            why.append(f"--restart {tid}: the new plan does not change it")
    return why


def _gate_under_way(key: str, kind: str, state: RunState) -> list[str]:
    """A gate the run has reached keeps its settings until it is decided: the gatekeeper
    evaluates and waits on the gate as it was when its phase ended (an open manual gate amended
    to `approval: auto` stayed open, waiting for a decision)."""
    g = state.gates.get(key)
    if g is None:
        return []
    verb = "removed" if kind == "removed" else "changed"
    if g.status is GateStatus.PASSED:
        return [f"gate '{key}' has passed: it cannot be changed or removed"]
    if g.status is GateStatus.OPEN:
        doing = "removing" if kind == "removed" else "changing"
        return [f"gate '{key}' is open: decide it (approve/reject) before {doing} it"]
    phase = state.phases.get(g.after)
    reached = phase is not None and phase.status is PhaseStatus.SUCCEEDED
    if g.status is GateStatus.WAITING and reached:
        # (its criteria are being evaluated, or it waits behind another gate of that phase)
        return [f"gate '{key}' is under way (phase '{g.after}' has ended): it cannot be {verb}"]
    return []


def _task(
    key: str,
    kind: str,
    fields: dict[str, list[Any]],
    state: RunState,
    restart: tuple[str, ...],
    new_tasks: dict[str, tuple[str, Any]],
) -> list[str]:
    tasks, phases = state.tasks, state.phases
    t = tasks.get(key)
    status = t.status if t is not None else TaskStatus.PENDING
    why: list[str] = []
    if kind == "removed":
        if status is TaskStatus.RUNNING:
            why.append(f"task '{key}' is running: it cannot be removed (cancel it first)")
        elif status not in _NOT_STARTED:
            why.append(f"task '{key}' has finished ({status.value}): it cannot be removed")
        return why
    phase, task = new_tasks[key]
    ps = phases.get(phase)
    if kind == "added" and ps is not None and ps.status in _FINISHED:
        why.append(f"phase '{phase}' has finished ({ps.status.value}): it cannot get task '{key}'")
    if kind == "changed":
        if status is TaskStatus.RUNNING:
            other = [f for f in fields if f not in COMMAND_FIELDS]
            if other:
                why.append(
                    f"task '{key}' is running: its {', '.join(other)} cannot change "
                    "(only its command, with --restart)"
                )
            elif key not in restart:
                why.append(
                    f"task '{key}' is running: its command changes only with an explicit "
                    f"restart (--restart {key})"
                )
        elif status not in _NOT_STARTED:
            why.append(f"task '{key}' has finished ({status.value}): it cannot be changed")
        if "phase" in fields and ps is not None and ps.status in _FINISHED:
            why.append(f"task '{key}' cannot move to phase '{phase}', which has finished")
    before = set(fields.get("needs", [[], []])[0] or ()) if kind == "changed" else set()
    for need in task.needs:
        n = tasks.get(need)
        if need not in before and n is not None and n.status in BAD:
            ended = n.status.value.replace("_", " ")
            why.append(f"task '{key}' may not need '{need}', which already {ended}")
    return why


def _phase_order(old: Plan, new: Plan, state: RunState) -> list[str]:
    """Phases that have started keep their order, and nothing new comes before one."""
    started = [
        p.id
        for p in old.phases
        if state.phases.get(p.id) and state.phases[p.id].status is not PhaseStatus.PENDING
    ]
    ids = [p.id for p in new.phases]
    if [p for p in ids if p in started] != started:
        return ["phases that have started keep their order: " + ", ".join(started)]
    if started:
        last = ids.index(started[-1])
        early = [p for p in ids[:last] if p not in {q.id for q in old.phases}]
        if early:
            return [
                f"phase '{early[0]}' would come before phase '{started[-1]}', which has started"
            ]
    return []


def change_lines(changes: list[Change]) -> list[str]:
    """One line a change, as `amend`, the change gate and the reports print them."""
    lines = []
    for c in changes:
        where = f" (phase {c['phase']})" if c.get("phase") else ""
        head = f"{c['what']} {c['id']}" if c["what"] != c["id"] else c["what"]
        if c["change"] != "changed":
            sign = "+" if c["change"] == "added" else "-"
            lines.append(f"{sign} {head} {c['change']}{where}")
        else:
            parts = [f"{name}: {_short(a)} -> {_short(b)}" for name, (a, b) in c["fields"].items()]
            lines.append(f"~ {head}: " + "; ".join(parts))
        if isinstance(c.get("oversight"), dict):
            lines.append(_oversight(str(c["oversight"].get("gate") or c["id"]), c["oversight"]))
    return lines


def _oversight(gate: str, said: dict[str, Any]) -> str:
    """Who must agree to a change that weakens a gate (engine/run/amend_oversight.py)."""
    quorum = int(said.get("quorum") or 1)
    barred = ", ".join(said.get("not") or ())
    but = f", not {barred}: the gate forbids self-approval" if barred else ""
    if said.get("approvers"):
        who = f"{quorum} of its approvers ({', '.join(said['approvers'])}{but})"
    else:
        who = f"{quorum} approval{'s' if quorum != 1 else ''} from anyone{but}"
    return f"  ! this weakens gate {gate}: {who} must approve this change too"


def _short(value: Any) -> str:
    text = "-" if value in (None, "", [], {}) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


WORK = (*COMMAND_FIELDS, "agent", "capability")  # a task's work, and who does it


def reworked(
    amendments: list[dict[str, Any]], agent_of: Mapping[str, str | None] | None = None
) -> set[str]:
    """The tasks whose work an amendment of the run changed: their times are not the plan's
    (history is kept by plan and task), so the next run of the plan is not forecast by them,
    nor are they forecast by the plan's earlier runs. That is a task whose command, agent or
    capability changed, a task an amendment added (it may have been removed and added back
    with other work), and the tasks of an agent whose definition changed (its command or
    model; not only its slots): `agent_of`, task -> its agent."""
    tasks: set[str] = set()
    agents: set[str] = set()
    for a in amendments:
        for c in a.get("diff", []):
            fields = set(c.get("fields") or {})
            if c.get("what") == "task" and (
                c.get("change") == "added" or (c.get("change") == "changed" and fields & set(WORK))
            ):
                tasks.add(str(c.get("id")))
            elif c.get("what") == "agent" and c.get("change") == "changed" and fields - {"slots"}:
                agents.add(str(c.get("id")))
    if agents and agent_of:
        tasks |= {t for t, agent in agent_of.items() if agent in agents}
    return tasks


def estimated(amendments: list[dict[str, Any]]) -> set[str]:
    """The tasks whose estimate an amendment changed: an operator's word on this run, over the
    plan's earlier runs."""
    return {
        str(c.get("id"))
        for a in amendments
        for c in a.get("diff", [])
        if c.get("what") == "task"
        and c.get("change") == "changed"
        and "estimate" in (c.get("fields") or {})
    }
