"""Who must agree to an amendment of a live run, a part of its change gate
(engine/run/amend.py). Every amendment needs the plan's `roles.changes` (by default the run's
starter). One that weakens a manual gate the run has not passed (removes it, moves it, makes it
`auto`, changes its approvers, lowers its quorum, turns `forbid_self_approval` off, takes
criteria away, or lets a timeout approve it) also needs that gate's own approvers, under the
gate's current rules: its quorum, and when it forbids self-approval neither the run's starter
nor the amendment's proposer counts towards it. Otherwise whoever may decide the change gate
could weaken a gate alone and then pass it alone.

Computed from the plan the run follows and the amendment's difference (the change gate's
`diff`), so that an engine that takes over a run judges the votes already given alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from phasegate.engine.plan.amend import Change
from phasegate.engine.plan.model import Plan
from phasegate.engine.run.gates import may_decide

OVERSIGHT = "oversight"  # the key of a gate's change that says who must agree to it


class Need(msgspec.Struct, frozen=True):
    """Approvals a change gate needs: `quorum` of `approvers` (() : anyone), `barred` not
    counting. `gate` is the weakened gate's id ("" for the plan's roles.changes), `how` what
    the amendment does to it."""

    gate: str
    approvers: tuple[str, ...]
    quorum: int = 1
    barred: tuple[str, ...] = ()
    how: tuple[str, ...] = ()
    starter: str = ""  # (the run's: said when roles.changes names nobody)
    tasks: tuple[str, ...] = ()  # the tasks it changes whose tests the gate's criteria read

    def listed(self, user: str) -> bool:
        return may_decide(self.approvers, user)

    def counts(self, user: str) -> bool:
        return self.listed(user) and user not in self.barred

    def given(self, approved_by: Sequence[str]) -> int:
        return sum(1 for u in approved_by if self.counts(u))

    def met(self, approved_by: Sequence[str]) -> bool:
        return self.given(approved_by) >= self.quorum

    def said(self, approved_by: Sequence[str] = ()) -> str:
        """What is still wanted of it: `2 approvals from group:team, not alice (gate 'g' ...)`."""
        if not self.gate:
            if self.approvers == (self.starter,):
                return f"the approval of the run's starter ({self.starter})"
            return f"an approval from {', '.join(self.approvers)} (the plan's roles.changes)"
        left = max(self.quorum - self.given(approved_by), 0)
        more = "more " if left < self.quorum else ""
        who = ", ".join(self.approvers) or "anyone"
        if self.barred:
            who += f"; not {', '.join(self.barred)}: the gate forbids self-approval"
        return (
            f"{left} {more}approval{'s' if left != 1 else ''} from the approvers of gate "
            f"'{self.gate}' ({who}), as this change weakens that gate: {', '.join(self.how)}"
        )


def _criteria_lost(old: list[Any], new: list[Any]) -> bool:
    return any(c not in new for c in old)


def weakenings(old: dict[str, Any], change: Change) -> list[str]:
    """What the change does to the gate (`old`: its settings, as `Gate.dump`) that leaves it
    less watched; [] for a gate that people do not approve (`approval: auto`)."""
    if old.get("approval", "manual") != "manual":
        return []
    if change["change"] == "removed":
        return ["removes it"]
    fields: dict[str, list[Any]] = change.get("fields", {})

    def new(key: str) -> Any:
        return fields[key][1] if key in fields else old.get(key)

    out: list[str] = []
    if new("approval") == "auto":
        out.append("approval manual -> auto")
    if "after" in fields:
        out.append(f"moves it after phase {new('after')}")
    if "approvers" in fields:
        out.append("changes its approvers")
    if int(new("quorum") or 1) < int(old.get("quorum") or 1):
        out.append("lowers its quorum")
    if old.get("forbid_self_approval") and not new("forbid_self_approval"):
        out.append("turns forbid_self_approval off")
    if _criteria_lost(list(old.get("criteria") or []), list(new("criteria") or [])):
        out.append("removes or changes criteria")
    timeout, was = new("timeout"), old.get("timeout")
    if (
        new("on_timeout") == "approve"
        and timeout is not None
        and (old.get("on_timeout") != "approve" or was is None or timeout < was)
    ):
        out.append("lets a timeout approve it sooner")
    return out


def needs(plan: Plan, diff: list[Change], starter: str, proposer: str) -> list[Need]:
    """What a change gate needs for this difference to the plan the run follows: the plan's
    roles.changes (else the run's starter), then each weakened gate's approvers."""
    found = [Need("", tuple(plan.roles.changes) or (starter,), starter=starter)]
    gates = {g.id: g for g in plan.gates}
    weakened: dict[str, list[str]] = {}
    through: dict[str, list[str]] = {}  # gate -> the tasks whose tests its criteria read
    for c in diff:
        gate = gates.get(c["id"]) if c["what"] == "gate" else None
        if gate is not None and c["change"] != "added":
            weakened.setdefault(gate.id, []).extend(weakenings(gate.dump(exclude=("id",)), c))
        elif c["what"] == "task" and c["change"] in ("changed", "removed"):
            # a task whose test results a manual gate's criteria read: its evidence changes
            for g in _reading(plan, c["id"]):
                said = f"{c['change']} task {c['id']} (its criteria read its tests)"
                weakened.setdefault(g, []).append(said)
                through.setdefault(g, []).append(c["id"])
    for gid, how in weakened.items():
        gate = gates[gid]
        if not how:
            continue
        barred = tuple(dict.fromkeys((starter, proposer))) if gate.forbid_self_approval else ()
        tasks = tuple(through.get(gid, ()))
        found.append(
            Need(gate.id, tuple(gate.approvers), gate.quorum, barred, tuple(how), tasks=tasks)
        )
    return found


def _reading(plan: Plan, task: str) -> list[str]:
    """The manual gates whose criteria read `task`'s test results (`tests: {of: task}`)."""
    return [
        g.id
        for g in plan.gates
        if g.approval == "manual"
        and any(c.tests is not None and c.tests.of == task for c in g.criteria)
    ]


def gate_needs(found: list[Need]) -> list[Need]:
    return [n for n in found if n.gate]


def approvers(found: list[Need]) -> list[str]:
    """Whom the change gate names as its approvers (front ends tell them): the plan's
    roles.changes ([] for the run's starter, as before) and, when the change weakens a gate,
    the starter by name and the gates' approvers."""
    if not gate_needs(found):
        return [] if found[0].approvers == (found[0].starter,) else list(found[0].approvers)
    return list(dict.fromkeys(a for n in found for a in n.approvers))


def unreachable(found: list[Need]) -> list[str]:
    """A weakened gate whose approvers (users alone: a group may hold anyone) could never give
    the approvals it needs, those barred taken off."""
    why = []
    for n in gate_needs(found):
        if not n.approvers or any(a.startswith("group:") for a in n.approvers):
            continue
        others = [a for a in dict.fromkeys(n.approvers) if a not in n.barred]
        if len(others) >= n.quorum:
            continue
        said = (
            f"this change weakens gate '{n.gate}' ({', '.join(n.how)}), so {n.quorum} of its "
            f"approvers must approve it, but only {len(others)} may ({', '.join(others) or 'none'})"
        )
        if n.barred:
            said += f": the gate forbids self-approval and {_barred(n.barred)}"
        why.append(said + "; nothing was changed")
    return why


def _barred(barred: tuple[str, ...]) -> str:
    if len(barred) == 1:
        return f"{barred[0]} starts the run and proposes the change"
    return f"{barred[0]} starts the run, {barred[1]} proposes the change"


def annotated(diff: list[Change], found: list[Need]) -> list[Change]:
    """The difference as the change gate shows it: each weakened gate's change says who must
    agree to it (`oversight`; change_lines prints it)."""
    by_gate = {n.gate: n for n in gate_needs(found)}
    named = {c["id"] for c in diff if c["what"] == "gate"}
    out = []
    for c in diff:
        n = by_gate.get(c["id"]) if c["what"] == "gate" else None
        if n is None and c["what"] == "task":  # (a gate weakened through its criteria' task)
            n = next((m for m in by_gate.values() if c["id"] in m.tasks), None)
            n = n if n is not None and n.gate not in named else None
            named |= {n.gate} if n is not None else set()
        if n is not None:
            c = {
                **c,
                OVERSIGHT: {
                    "gate": n.gate,
                    "weakens": list(n.how),
                    "approvers": list(n.approvers),
                    "quorum": n.quorum,
                    "not": list(n.barred),
                },
            }
        out.append(c)
    return out


def waiting(found: list[Need], approved_by: Sequence[str]) -> str:
    """What the change gate still waits for, said in one line."""
    return "; ".join(n.said(approved_by) for n in found if not n.met(approved_by))


def refusal(
    found: list[Need], change: str, user: str, kind: str, approved_by: Sequence[str]
) -> str:
    """Why `user` may not take this decision at the change gate ("" : may). A rejection by
    anyone whose approval could count decides; an approval counts for each need it may."""
    left = waiting(found, approved_by)
    if kind == "reject":
        ok = any(n.counts(user) for n in found)
        return "" if ok else _not_listed(found, change, user, approved_by)
    if user in approved_by:
        return f"{user} has approved {change} already; it waits for {left}"
    if any(n.counts(user) and not n.met(approved_by) for n in found):
        return ""
    barred = [n for n in gate_needs(found) if n.listed(user) and not n.met(approved_by)]
    if barred:
        who = "started the run" if user == found[0].starter else "proposed this change"
        return (
            f"{user} may not approve {change}: it weakens gate '{barred[0].gate}', which "
            f"forbids self-approval, and {user} {who}; it waits for {left}"
        )
    if any(n.counts(user) for n in found):
        return f"{change} needs no more approvals that {user} may give; it waits for {left}"
    return _not_listed(found, change, user, approved_by)


def _not_listed(found: list[Need], change: str, user: str, approved_by: Sequence[str]) -> str:
    return (
        f"{user} may not decide {change}; approvers: {', '.join(approvers(found))} "
        f"(it waits for {waiting(found, approved_by)})"
    )
