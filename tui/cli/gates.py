"""`phasegate gates|approve|reject`: deciding gates from any terminal (the audit trail of the
decisions: tui/cli/audit.py).

A decision is written as a command; the engine judges it under the gate's policy and answers
with an event naming the command, which this waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any

from phasegate.engine.client import (
    RunRow,
    SQLiteStore,
    ask,
    check_database,
    db_flag,
    deliver,
    engine_alive,
    resolve_run,
)
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Approve, Reject
from phasegate.engine.model.errors import PhasegateError, UsageError
from phasegate.engine.model.fold import apply, project
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import RunState
from phasegate.tui.cli.audit import audit as audit  # (where it was: tests import it here)
from phasegate.tui.cli.audit import verify as verify
from phasegate.tui.cli.control import Refused, live_run, unknown_name
from phasegate.tui.text import one_line, safe, when, whole_table

ANSWER_TIMEOUT = 30.0
NOT_APPLIED = "not applied"  # a change approved that the engine refused: the run moved on
WAIT_POLL = 0.25  # seconds between two looks at the store (`gates --wait`)


def _for_user(state: RunState, found: dict[str, Any], user: str) -> dict[str, Any]:
    """A gate's, change's or request's row with what the hints need to speak to `user`: who
    started the run, whether it forbids self-approval, and whether `user` may decide it now
    (as the engine's policy says: an approver who has not approved yet)."""
    from phasegate.engine.client import policy  # (the plan's model: heavy)

    kind, key = found.get("kind"), found["id"]
    may = False
    if kind == "permission" and key in state.permissions:
        may = policy.may_answer_permission(state, state.permissions[key], user)
    elif kind == "change" and key in state.changes:
        may = policy.may_decide_change(state, state.changes[key], user)
    elif key in state.gates:
        gate = state.gates[key]
        found["forbid_self_approval"] = gate.forbid_self_approval
        may = policy.may_decide_gate(state, gate, user)
    return found | {
        "started_by": state.user,
        "may_decide": may and user not in found.get("approved_by", ()),
    }


async def list_gates(db_path: str, ref: str | None, as_json: bool) -> str:
    from phasegate.engine.client.reports import NOT_DECIDED, ended_first, gather

    user = current_identity().user
    store = await SQLiteStore.open(db_path)
    try:
        if ref is not None:
            rows = [await resolve_run(store, ref)]
        else:
            rows = await _live_runs(store)
        found: list[dict[str, Any]] = []
        for row in rows:
            events = [e for _, e in await store.read_events(row.id)]
            # (one run's: its facts say which gates its end left undecided, as reports do)
            facts = gather(row.id, events) if ref is not None else None
            state = facts.state if facts is not None else project(events)
            for gate in state.gates.values():
                if ref is None and gate.status != "open":
                    continue
                shown = {"run": row.id, "plan": row.plan_name, "kind": "gate", **gate.as_dict()}
                if facts is not None and facts.gate_status(gate.id) == NOT_DECIDED:
                    shown.update(status=NOT_DECIDED, reason=ended_first(state.reason))
                found.append(_for_user(state, shown, user))
            # (the fold counts a change the engine refused to apply as rejected: its event
            # tells the two apart)
            refused = {
                e.change: e.reason
                for e in events
                if isinstance(e, ev.ChangeClosed) and e.outcome == "refused"
            }
            for change in state.changes.values():  # amendments of the plan at their gate
                if change.status == "open" or ref is not None:
                    shown = {"run": row.id, "plan": row.plan_name, **change.as_dict()}
                    if change.id in refused:
                        undecided = refused[change.id] == ev.UNDECIDED
                        shown.update(
                            status=NOT_DECIDED if undecided else NOT_APPLIED,
                            reason=refused[change.id],
                        )
                    found.append(_for_user(state, shown, user))
            for asked in state.permissions.values():  # agents' tool requests, routed alike
                if asked.status == "open" or ref is not None:
                    shown = {"run": row.id, "plan": row.plan_name, **asked.as_dict()}
                    found.append(_for_user(state, shown, user))
    finally:
        await store.close()
    return _shown(found, ref, as_json, db_flag(db_path), user)


def _shown(
    found: list[dict[str, Any]], ref: str | None, as_json: bool, db: str = "", user: str = ""
) -> str:
    """`db`: what the hints' commands need to find the run (` --db PATH`, "" by default);
    `user`: whom the hints speak to (the command to decide for who may, else whom it waits
    for)."""
    if as_json:  # (a gate whose phase has not ended: "not_reached", as the table says)
        for g in found:
            if g.get("kind") == "gate" and g["status"] in ("waiting", "not decided"):
                g["status"] = "not_reached" if g["status"] == "waiting" else "not_decided"
            elif g.get("kind") == "change" and g["status"] in ("not decided", NOT_APPLIED):
                g["status"] = g["status"].replace(" ", "_")
        return json.dumps({"gates": found}, indent=2)
    if not found:
        return "no gates waiting" if ref is None else "this run's plan has no gates"
    asks = [g for g in found if g.get("kind") == "permission"]
    found = [g for g in found if g.get("kind") != "permission"]
    lines = (
        []
        if not found
        else [
            whole_table(
                ["run", "gate", "after", "status", "approvals", "approvers", "opened"],
                [
                    [
                        g["run"],
                        safe(g["id"]),
                        safe(g["after"] or "plan change"),
                        "not reached" if g["status"] == "waiting" else g["status"],
                        f"{len(g['approved_by'])}/{g['quorum']}",
                        safe(_approvers(g)),
                        when(g["opened_at"]),
                    ]
                    for g in found
                ],
                whole={0, 3, 4, 6},  # (narrow: the decide line below names the gate whole)
            )
        ]
    )
    for g in found:
        if g["status"] == "open" and g.get("may_decide", True):
            lines.append(
                f"  decide: phasegate approve {g['run']} {g['id']} --reason TEXT{db}   "
                f"(or: phasegate reject {g['run']} {g['id']} --reason TEXT{db})"
            )
        elif g["status"] == "open":
            lines.append(f"  {safe(g['id'])}: {safe(_waits_for(g, user))}")
        elif g["status"] == "not decided":  # (no one rejected it: the run stopped first)
            lines.append(f"  {safe(g['id'])}: not decided, {safe(g['reason'])}")
        elif g["status"] == NOT_APPLIED:  # (approved, but the run had moved past it)
            lines.append(f"  {safe(g['id'])}: not applied, {one_line(g['reason'])}")
    if asks:
        lines.append(
            whole_table(
                ["run", "request", "task", "tool", "what", "status"],
                [
                    [
                        a["run"],
                        safe(a["id"]),
                        safe(a["task"]),
                        safe(a["tool"]),
                        safe(a["detail"])[:40],
                        a["status"],
                    ]
                    for a in asks
                ],
                whole={0, 1, 5},
            )
        )
        for a in asks:
            if a["status"] == "open" and not a.get("may_decide", True):
                lines.append(f"  {safe(a['id'])}: {safe(_waits_for(a, user))}")
            elif a["status"] == "open":
                lines.append(
                    f"  answer: phasegate approve {a['run']} {a['id']}{db} (allow)   "
                    f"or: phasegate reject {a['run']} {a['id']} --reason TEXT{db} (deny)"
                )
    return "\n".join(lines)


def _approvers(g: dict[str, Any]) -> str:
    """The APPROVERS column: who decides, and who may not although listed (the run's starter
    of a gate that forbids self-approval: `alice, bob (not carol)`)."""
    who = ", ".join(g["approvers"]) or ("the starter" if g.get("kind") == "change" else "anyone")
    if g.get("forbid_self_approval") and g.get("started_by"):
        who += f" (not {g['started_by']})"
    return who


def _waits_for(g: dict[str, Any], user: str) -> str:
    """Whom an open gate (change, request) waits for, said to `user`, who may not decide it."""
    starter = g.get("started_by", "")
    forbidden = starter if g.get("forbid_self_approval") else ""
    done = g.get("approved_by", [])
    left = [a for a in g.get("approvers", []) if a not in done and a != forbidden]
    if g.get("kind") == "permission":
        whom = ", ".join(left) or "whoever operates the run"
    elif g.get("kind") == "change":
        whom = ", ".join(left) or f"the run's starter ({starter})"
    else:
        need = max(int(g.get("quorum", 1)) - len(done), 1)
        whom = f"{need} more approval{'s' if need != 1 else ''} from " + (
            ", ".join(left) or (f"anyone but {forbidden}" if forbidden else "anyone")
        )
    if user in done:
        why = "you approved it"
    elif user and user == forbidden:
        why = "you started the run and it forbids self-approval"
    else:
        why = f"{user or 'you'} may not decide it"
    return f"waits for {whom} ({why})"


async def _live_runs(store: SQLiteStore) -> list[RunRow]:
    return [r for r in await store.list_runs(200) if r.finished_at is None and engine_alive(r)]


class NoGate(PhasegateError):
    """`gates --wait` gave up: no gate for the caller opened in time, or the run ended (exit 1)."""


async def wait_for_gates(
    db_path: str, ref: str | None, as_json: bool, timeout: float | None
) -> str:
    """Block until a gate that this OS user may decide waits (in run `ref`, or in any live
    run), then show the gates waiting for them as `phasegate gates` does. Polls the store every
    WAIT_POLL seconds, folding only the events it has not seen."""
    from phasegate.engine.client.policy import gates_waiting_for  # (the plan's model: heavy)

    user = current_identity().user
    deadline = None if timeout is None else time.monotonic() + timeout
    folds: dict[str, tuple[int, RunState]] = {}  # run -> (last event read, its fold)
    # Ctrl-C ends the wait between two looks at the store, never inside one, nor while the
    # store opens (a read cut off in the database's thread printed its traceback as the loop
    # closed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    store: SQLiteStore | None = None
    try:
        while ref is None and not os.path.exists(db_path) and not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                raise NoGate(f"no gate of any live run waited for {user} within {timeout:g}s")
            with contextlib.suppress(TimeoutError):  # (no run yet: the first makes it)
                await asyncio.wait_for(stop.wait(), WAIT_POLL)
        if stop.is_set():
            raise KeyboardInterrupt
        check_database(db_path)  # (then as every command that reads: exit 2 if not one)
        store = await SQLiteStore.open(db_path)
        only = await resolve_run(store, ref) if ref is not None and not stop.is_set() else None
        while not stop.is_set():
            rows = [only] if only is not None else await _live_runs(store)
            found: list[dict[str, Any]] = []
            for row in rows:
                cursor, state = folds.get(row.id, (0, RunState()))
                events = await store.read_events(row.id, cursor)
                for _, event in events:
                    apply(state, event)
                folds[row.id] = (events[-1][0] if events else cursor, state)
                found += [
                    _for_user(state, {"run": row.id, "plan": row.plan_name, **g.as_dict()}, user)
                    for g in gates_waiting_for(state, user)
                ]
            if found:
                return _shown(found, None, as_json, db_flag(db_path), user)
            if only is not None:
                only = await resolve_run(store, only.id)
                if only.finished_at is None and not engine_alive(only):
                    from phasegate.tui.cli.views import interrupted

                    raise NoGate(
                        f"{interrupted(only.id, db_path)}; no gate of it will open for {user} "
                        "until then"
                    )
                if only.finished_at is not None:
                    raise NoGate(
                        f"run {only.id} is {only.status} and has no live engine: "
                        f"no gate of it will open for {user}"
                    )
            if deadline is not None and time.monotonic() >= deadline:
                where = f"run {only.id}" if only is not None else "any live run"
                raise NoGate(f"no gate of {where} waited for {user} within {timeout:g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WAIT_POLL)
        raise KeyboardInterrupt
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if store is not None:
            await store.close()


async def decide(db_path: str, ref: str, order: Approve | Reject) -> str:
    """Write the decision and wait for the engine's answer; raise Refused with its reason.
    What it did is told from the engine's own events: the vote, then (when the vote settled
    the gate) the gate's closing and what follows it, a rewind or the run's end."""
    from phasegate.engine.model.snapshot import fold_run

    store = await SQLiteStore.open(db_path)
    try:
        row = await live_run(store, ref, "its gates cannot be decided now", order)
        state, cursor = await fold_run(store, row.id)  # (the run as the decision leaves for it)
        why = unknown_name(state, order) if state.run_id else ""
        if why:
            # bad input (exit 2), yet sent all the same: the engine records the attempt's
            # refusal (who asked what, and why not), an audit row, and answers it at once
            event = (await deliver(store, row.id, order))[1]
            if not isinstance(event, ev.GateVoted):  # (taken: the gate came meanwhile)
                raise UsageError(f"run {row.id} {why}")
        else:
            event = await ask(
                store,
                row.id,
                order,
                lambda e, sent: isinstance(e, ev.GateVoted | ev.GateRefused) and e.command == sent,
            )
        if isinstance(event, ev.GateRefused):
            raise Refused(f"refused: {event.why}")
        assert isinstance(event, ev.GateVoted)
        return await _answer(store, row, state, cursor, event)
    finally:
        await store.close()


SETTLE_TIMEOUT = 10.0  # seconds to wait for the engine to close a gate a vote decided
SETTLE_POLL = 0.05


async def _answer(
    store: SQLiteStore, row: RunRow, state: RunState, cursor: int, vote: ev.GateVoted
) -> str:
    """What the vote did, from the events after `cursor` (folded into `state`, the run as it
    was before the vote): the vote itself, then whatever it settled, as the engine recorded
    it. Polls the store with a deadline; never guesses from a moment's state."""
    target, user, run_id = vote.gate, vote.user, row.id
    verb = "approved" if vote.decision == "approve" else "rejected"
    head = f"{user} {verb} gate {target} of run {run_id}"
    deadline = time.monotonic() + SETTLE_TIMEOUT
    voted = False
    closed: ev.GateClosed | None = None
    rewound: ev.PhaseRewound | None = None
    ended: ev.RunFinished | None = None
    change_closed: ev.ChangeClosed | None = None  # (its outcome: the fold says refused as rejected)
    attempt = 0  # (the gate's attempt that closed)
    while True:
        fresh = await store.read_events(run_id, cursor)
        cursor = fresh[-1][0] if fresh else cursor
        for _, e in fresh:
            apply(state, e)
            if isinstance(e, ev.GateVoted) and e.command == vote.command:
                voted = True
                g = state.gates.get(target)  # (does this vote decide the gate?)
                decisive = g is not None and (bool(g.rejected) or len(g.approved_by) >= g.quorum)
                if g is not None and not decisive:
                    return f"{head}: {len(g.approved_by)} of {g.quorum} approvals, still waiting"
            elif not voted:
                continue
            elif isinstance(e, ev.GateClosed) and e.gate == target and closed is None:
                closed, attempt = e, state.gates[target].attempt if target in state.gates else 0
            elif isinstance(e, ev.ChangeClosed) and e.change == target:
                change_closed = e
            elif isinstance(e, ev.PhaseRewound) and e.gate == target and closed is not None:
                rewound = e
            elif isinstance(e, ev.RunFinished):
                ended = e
        if voted and target in state.permissions:  # (answered with the vote, at once)
            p = state.permissions[target]
            if p.status != "open":
                said = "allowed" if vote.decision == "approve" else "denied"
                return f"{user} {said} {p.tool} ({p.detail[:60]}) for task {p.task} of run {run_id}"
        elif voted and target in state.changes:
            c = state.changes[target]
            if c.status != "open":
                if change_closed is not None and change_closed.outcome == "refused":
                    # (approved, yet the engine could not apply it: not a success, exit 1)
                    raise Refused(
                        f"{user} {verb} {target} of run {run_id}, but it was not applied: "
                        + one_line(change_closed.reason or "the engine refused it")
                    )
                done = {"passed": "the plan is amended"}.get(c.status.value, f"it {c.status}")
                return f"{user} {verb} {target} of run {run_id}: {done}"
            # (the engine closes a change with the vote that decides it, in one batch: one that
            # weakens a gate waits for that gate's approvers too)
            n = len(c.approved_by)
            return (
                f"{user} {verb} {target} of run {run_id}: {n} approval{'s' if n != 1 else ''} "
                f"so far, it waits for more (`phasegate gates {run_id}{db_flag(store.path)}` "
                "says whose)"
            )
        elif closed is not None:
            # (the engine writes a rewind in the batch that closes the gate: it is here now,
            # or there is none)
            return f"{head}: " + await _after_close(store, row, attempt, closed, rewound)
        if ended is not None:
            return f"{head}: the run ended ({ended.status}) before the gate closed"
        if time.monotonic() >= deadline:
            seen = "" if voted else " (the engine has not recorded the vote yet)"
            return (
                f"{head}: the engine took the decision{seen}; "
                f"`phasegate gates {run_id}{db_flag(store.path)}` shows the gate"
            )
        await asyncio.sleep(SETTLE_POLL)


async def _after_close(
    store: SQLiteStore,
    row: RunRow,
    attempt: int,
    closed: ev.GateClosed,
    rewound: ev.PhaseRewound | None,
) -> str:
    """What a gate's closing (of its `attempt`) means for the run: it goes on, runs a phase
    again, or fails."""
    from phasegate.engine.client.policy import rewind_rule  # (the plan's model: heavy)

    if closed.outcome == "passed":
        return "the gate passed"
    rule = await rewind_rule(store, row.id, row.plan_path, closed.gate)
    if rewound is not None:
        of = f" of {rule[1]}" if rule is not None else ""
        again = f"phase {rewound.phase} runs again (attempt {attempt + 1}{of})"
        return f"the gate {closed.outcome}; {again}"
    if closed.outcome == "rejected" and rule is not None:
        return f"the gate rejected after {attempt} of {rule[1]} attempts; the run fails"
    return f"the gate {closed.outcome}; the run fails"


def check_reason(decision: str, reason: str | None) -> str:
    """A rejection and a skip need a reason (blank is none): a usage error, before anything
    is sent."""
    if decision in ("reject", "skip") and not (reason or "").strip():
        what = "a rejection" if decision == "reject" else "a skip"
        raise UsageError(f"{what} needs a reason: --reason TEXT")
    return reason or ""
