"""Amending a live run's plan: the difference between the plan the run follows and a new version,
task by task (added, removed, changed fields), agents and slots, resources, gates, phases and
their timeboxes, risk rules and roles, and the plan's own keys; what in it the run's state
refuses, each with its reason; and the lines its approvers read (an added part's settings, a
command whole). Pure: the engine (engine/run/amend.py) and the front ends use the same code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import BAD, GateStatus, PhaseStatus, TaskStatus
from phasegate.engine.plan.amend_lines import change_lines as change_lines

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


def settings(value: Any, exclude: tuple[str, ...] = ()) -> Any:
    """As a plan writes it: a part's fields that are not at their defaults, as plain data."""
    if isinstance(value, msgspec.Struct):
        out = {}
        for f in msgspec.structs.fields(value):
            v, none = getattr(value, f.name), msgspec.NODEFAULT
            default = f.default_factory() if f.default_factory is not none else f.default
            if f.name not in exclude and v != default:
                out[f.encode_name] = settings(v)
        return out
    if isinstance(value, (list, tuple)):
        return [settings(v) for v in value]
    if isinstance(value, dict):
        return {k: settings(v) for k, v in value.items()}
    return msgspec.to_builtins(value)


def _by_id(
    what: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    exclude: tuple[str, ...] = (),
    phases: tuple[dict[str, str], dict[str, str]] = ({}, {}),
) -> list[Change]:
    """The parts of a kind, by id (`phases`: a task's phase, in the old plan and the new)."""
    out: list[Change] = []
    for key, part in new.items():
        at = {"phase": phases[1][key]} if key in phases[1] else {}
        if key not in old:
            added = {"change": "added", **at, "settings": settings(part, exclude)}
            out.append({"what": what, "id": key, **added})
            continue
        a, b = part_fields(old[key], exclude), part_fields(part, exclude)
        if at:  # (first among its fields, if it moved)
            a, b = {"_phase": phases[0][key], **a}, {"_phase": at["phase"], **b}
        if fields := _fields(a, b):
            out.append(_changed(what, key, fields, old[key], part))
    out += [{"what": what, "id": k, "change": "removed"} for k in old if k not in new]
    return out


def part_fields(part: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in msgspec.to_builtins(part).items() if k not in exclude}


def _changed(what: str, key: str, fields: dict[str, list[Any]], old: Any, new: Any) -> Change:
    """`shown`: a changed value as the plan writes it, where that is not `fields`' (a part's
    keys at their defaults left out)."""
    if "_phase" in fields:
        fields = {"phase": fields.pop("_phase"), **fields}
    shown = {
        k: [settings(getattr(old, k, None)), settings(getattr(new, k, None))]
        for k in fields
        if k != "phase"
    }
    shown = {k: v for k, v in shown.items() if v != fields[k]}
    said = {"fields": fields, **({"shown": shown} if shown else {})}
    return {"what": what, "id": key, "change": "changed", **said}


# The plan's own keys, beside its parts compared one by one. The engine reads these from the
# plan it follows, so a change to one applies at once (and a take-over reads the same text):
APPLIED = {"description", "kill_grace", "output_cap", "absolute_outputs", "keep_worktrees"}
APPLIED |= {"notify"}  # (engine/run/amend.py hands it to the notifier)
# these the run took as it started, and keeps: a change is refused, with the reason
FIXED = {
    "vars": "its commands are made with the values it started with",
    "raw_vars": "its commands are made with the values it started with",
    "workdir": "its tasks run in the directory it started in",
    "secrets": "its secrets were read as it started",
    "budget": "what it spends counts against the budget it started with (a budget with "
    "`action: ask` grows when the run is resumed past it)",
    "share": "its socket and database were shared as it started",
    "checks": "the plan's checks ran as it started",
    "research": "its research queries ran as it started",
    "feedback": "its feedback questions were set as it started",
}
_PARTS = ("agents", "resources", "phases", "gates", "risks", "roles", "monitors")


def _plan_keys(old: Plan, new: Plan) -> list[Change]:
    keys = [f.name for f in msgspec.structs.fields(old) if f.name not in _PARTS]
    both = {k: [settings(getattr(old, k)), settings(getattr(new, k))] for k in keys}
    return [
        {"what": "plan", "id": k, "change": "changed", "fields": {k: ab}}
        for k, ab in both.items()
        if ab[0] != ab[1]
    ]


def diff(old: Plan, new: Plan) -> list[Change]:
    """Every difference between two versions of a plan, in a stable order."""
    phases = ({t.id: p.id for p, t in old.tasks()}, {t.id: p.id for p, t in new.tasks()})
    tasks = ({t.id: t for _, t in old.tasks()}, {t.id: t for _, t in new.tasks()})
    out = _by_id("task", *tasks, ("id",), phases)
    out += _by_id(
        "phase", {p.id: p for p in old.phases}, {p.id: p for p in new.phases}, ("id", "tasks")
    )
    out += _by_id("agent", old.agents, new.agents)
    out += _by_id("resource", old.resources, new.resources)
    out += _by_id("gate", {g.id: g for g in old.gates}, {g.id: g for g in new.gates}, ("id",))
    for what in ("risks", "roles"):
        a, b = getattr(old, what), getattr(new, what)
        if fields := _fields(part_fields(a), part_fields(b)):
            out.append(_changed(what, what, fields, a, b))
    monitors = [[m.dump() for m in old.monitors], [m.dump() for m in new.monitors]]
    if monitors[0] != monitors[1]:
        out.append(_changed("monitors", "monitors", {"monitors": monitors}, old, new))
    return out + _plan_keys(old, new)


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
            why += _plan_key(key)
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


def _plan_key(key: str) -> list[str]:
    if key == "name":
        return ["the plan's name cannot change: it names the run and its history"]
    if key in APPLIED:
        return []
    reason = f": {FIXED[key]}" if key in FIXED else ""
    return [f"`{key}` cannot change in a live run{reason}; start a new run for it"]


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


# text an approver must read whole (a command, a prompt): shown on lines of its own
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
