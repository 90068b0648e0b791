"""`phasegate gates|approve|reject|audit`: deciding gates from any terminal, and the audit trail.

A decision is written as a command; the engine judges it under the gate's policy and answers
with an event naming the command, which this waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from typing import Any

from phasegate.engine.client import (
    RunRow,
    SQLiteStore,
    ask,
    db_flag,
    engine_alive,
    resolve_run,
)
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Approve, Reject
from phasegate.engine.model.errors import PhasegateError, UsageError
from phasegate.engine.model.fold import apply, project
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import RunState
from phasegate.tui.cli.control import Refused, check_names, live_run
from phasegate.tui.text import safe, table, when

ANSWER_TIMEOUT = 30.0
WAIT_POLL = 0.25  # seconds between two looks at the store (`gates --wait`)


async def list_gates(db_path: str, ref: str | None, as_json: bool) -> str:
    from phasegate.engine.client.reports import NOT_DECIDED, ended_first, gather

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
                found.append(shown)
            for change in state.changes.values():  # amendments of the plan at their gate
                if change.status == "open" or ref is not None:
                    found.append({"run": row.id, "plan": row.plan_name, **change.as_dict()})
            for asked in state.permissions.values():  # agents' tool requests, routed alike
                if asked.status == "open" or ref is not None:
                    found.append({"run": row.id, "plan": row.plan_name, **asked.as_dict()})
    finally:
        await store.close()
    return _shown(found, ref, as_json, db_flag(db_path))


def _shown(found: list[dict[str, Any]], ref: str | None, as_json: bool, db: str = "") -> str:
    """`db`: what the hints' commands need to find the run (` --db PATH`, "" by default)."""
    if as_json:  # (a gate whose phase has not ended: "not_reached", as the table says)
        for g in found:
            if g.get("kind") == "gate" and g["status"] in ("waiting", "not decided"):
                g["status"] = "not_reached" if g["status"] == "waiting" else "not_decided"
        return json.dumps({"gates": found}, indent=2)
    if not found:
        return "no gates waiting" if ref is None else "this run's plan has no gates"
    asks = [g for g in found if g.get("kind") == "permission"]
    found = [g for g in found if g.get("kind") != "permission"]
    lines = (
        []
        if not found
        else [
            table(
                ["run", "gate", "after", "status", "approvals", "approvers", "opened"],
                [
                    [
                        g["run"],
                        safe(g["id"]),
                        safe(g["after"] or "plan change"),
                        "not reached" if g["status"] == "waiting" else g["status"],
                        f"{len(g['approved_by'])}/{g['quorum']}",
                        safe(
                            ", ".join(g["approvers"])
                            or ("the starter" if g.get("kind") == "change" else "anyone")
                        ),
                        when(g["opened_at"]),
                    ]
                    for g in found
                ],
            )
        ]
    )
    for g in found:
        if g["status"] == "open":
            lines.append(
                f"  decide: phasegate approve {g['run']} {g['id']} --reason TEXT{db}   "
                f"(or: phasegate reject {g['run']} {g['id']} --reason TEXT{db})"
            )
        elif g["status"] == "not decided":  # (no one rejected it: the run stopped first)
            lines.append(f"  {safe(g['id'])}: not decided, {safe(g['reason'])}")
    if asks:
        lines.append(
            table(
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
            )
        )
        for a in asks:
            if a["status"] == "open":
                lines.append(
                    f"  answer: phasegate approve {a['run']} {a['id']}{db} (allow)   "
                    f"or: phasegate reject {a['run']} {a['id']} --reason TEXT{db} (deny)"
                )
    return "\n".join(lines)


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
                    {"run": row.id, "plan": row.plan_name, **g.as_dict()}
                    for g in gates_waiting_for(state, user)
                ]
            if found:
                return _shown(found, None, as_json, db_flag(db_path))
            if only is not None:
                only = await resolve_run(store, only.id)
                if only.finished_at is not None or not engine_alive(only):
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
    """Write the decision and wait for the engine's answer; raise Refused with its reason."""
    store = await SQLiteStore.open(db_path)
    try:
        row = await live_run(store, ref, "its gates cannot be decided now")
        await check_names(store, row, order)
        event = await ask(
            store,
            row.id,
            order,
            lambda e, sent: isinstance(e, ev.GateVoted | ev.GateRefused) and e.command == sent,
        )
        if isinstance(event, ev.GateRefused):
            raise Refused(f"refused: {event.why}")
        assert isinstance(event, ev.GateVoted)
        return await _answer(store, row.id, order.gate, order.kind.value, event.user)
    finally:
        await store.close()


async def _answer(store: SQLiteStore, run_id: str, gate: str, decision: str, user: str) -> str:
    await asyncio.sleep(0.3)  # let the engine close the gate if this decision settled it
    state = project(e for _, e in await store.read_events(run_id))
    if gate in state.permissions:
        p = state.permissions[gate]
        verb = "allowed" if decision == "approve" else "denied"
        return f"{user} {verb} {p.tool} ({p.detail[:60]}) for task {p.task} of run {run_id}"
    verb = "approved" if decision == "approve" else "rejected"
    if gate in state.changes:
        c = state.changes[gate]
        done = {"open": "still waiting", "passed": "the plan is amended"}
        return f"{user} {verb} {gate} of run {run_id}: {done.get(c.status.value, c.status.value)}"
    g = state.gates[gate]
    if g.status == "open":
        return (
            f"{user} {verb} gate {gate} of run {run_id}: "
            f"{len(g.approved_by)} of {g.quorum} approvals, still waiting"
        )
    return f"{user} {verb} gate {gate} of run {run_id}: the gate {g.status}"


async def audit(db_path: str, ref: str, as_json: bool) -> str:
    from phasegate.engine.client.reports import ended_first, left_undecided

    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        events = [e for _, e in await store.read_events(row.id)]
    finally:
        await store.close()
    rows: list[dict[str, Any]] = []
    state = RunState()  # (the run as each event leaves it: which gates still wait)
    for e in events:
        apply(state, e)
        if isinstance(e, ev.RunFinished):  # a gate still waiting was left undecided
            rows += [
                {
                    "time": e.ts,
                    "gate": g.id,
                    "decision": "gate not decided",
                    "user": "",
                    "reason": ended_first(e.reason),
                    "accepted": True,
                }
                for g in state.gates.values()
                if g.status == "open"
            ]
        if isinstance(e, ev.GateVoted | ev.GateRefused):
            rows.append(
                {
                    "time": e.ts,
                    "gate": e.gate,
                    "decision": e.decision,
                    "user": e.user,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": e.reason,
                    "accepted": isinstance(e, ev.GateVoted),
                    "why": e.why if isinstance(e, ev.GateRefused) else "",
                    "evidence_hash": e.evidence_hash if isinstance(e, ev.GateVoted) else "",
                }
            )
        elif isinstance(e, ev.CommandDone):
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": e.kind,
                    "user": e.by,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": e.reason,  # the operator's own ("" when none was given)
                    "accepted": e.ok,
                    "why": "" if e.ok else e.message,
                    "outcome": e.message,  # the engine's answer, done or refused
                    "target": e.target,  # what it acted on (`task build`; "": the run)
                }
            )
        elif isinstance(e, ev.FeedbackGiven):  # (a stakeholder's answers)
            rated = f"{e.rating}/5 " if e.rating is not None else ""
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": "feedback",
                    "user": e.user,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": f"{rated}{e.comment}".strip(),
                    "accepted": True,
                }
            )
        elif isinstance(e, ev.RunStarted):
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": "run started",
                    "user": e.user,
                    "host": e.host,
                    "reason": "",
                    "accepted": True,
                }
            )
        elif isinstance(e, ev.RunFinished):
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": f"run {e.status}",
                    "user": "",
                    "reason": e.reason,
                    "accepted": True,
                }
            )
        elif isinstance(e, ev.BudgetExtended):
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": f"budget of {e.scope} extended",
                    "user": e.by,
                    "reason": f"+${e.usd:g} +{e.tokens} tokens +{e.turns} turns"
                    + (f" +{e.seconds:g}s" if e.seconds else ""),
                    "accepted": True,
                }
            )
        elif isinstance(e, ev.ChangeProposed | ev.ChangeClosed):
            rows.append(
                {
                    "time": e.ts,
                    "gate": e.change,
                    "decision": (
                        "change proposed"
                        if isinstance(e, ev.ChangeProposed)
                        else f"change {e.outcome}"
                    ),
                    "user": e.by if isinstance(e, ev.ChangeProposed) else "",
                    "reason": "" if isinstance(e, ev.ChangeProposed) else e.reason,
                    "accepted": True,
                }
            )
        elif isinstance(e, ev.GateClosed):
            # (an earlier engine closed a gate `rejected` as the run stopped: nobody did)
            undecided = left_undecided(state, e)
            rows.append(
                {
                    "time": e.ts,
                    "gate": e.gate,
                    "decision": "gate not decided" if undecided else f"gate {e.outcome}",
                    "user": "",
                    "reason": ended_first(e.reason) if undecided else e.reason,
                    "accepted": True,
                }
            )
    if as_json:
        return json.dumps({"run": row.id, "audit": rows}, indent=2)
    if not rows:
        return f"run {row.id}: no gate decisions"
    return table(
        ["time", "on", "decision", "by", "from", "reason"],
        [
            [
                when(r["time"]),
                safe(r["gate"] or r.get("target") or "-"),  # a gate, a change, a task...
                safe(r["decision"]) + ("" if r["accepted"] else " (refused)"),
                safe(r["user"] + (f" ({r['uid']})" if "uid" in r else "") if r["user"] else "-"),
                safe(r.get("host", "") + (" ssh" if r.get("ssh") else "")),
                safe(_because(r)),  # (whole: the table wraps it to the terminal's width)
            ]
            for r in rows
        ],
    )


def _because(row: dict[str, Any]) -> str:
    """An audit row's REASON column: the reason given, then the engine's answer to a command
    or why it was refused (each once)."""
    said = [row["reason"], row.get("outcome") or row.get("why", "")]
    if row["accepted"] and "outcome" not in row:
        said = said[:1]
    return " - ".join(dict.fromkeys(s for s in said if s))


async def verify(db_path: str, ref: str, as_json: bool) -> tuple[bool, str]:
    """Walk the run's hash chain: (holds, what to print)."""
    from phasegate.engine.client import verify_chain

    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        count, problems = await verify_chain(store, row.id)
    finally:
        await store.close()
    if as_json:
        return not problems, json.dumps(
            {"run": row.id, "events": count, "ok": not problems, "problems": problems}, indent=2
        )
    if not problems:
        return True, f"run {row.id}: the hash chain of its {count} events holds"
    head = f"run {row.id}: its audit trail was tampered with ({len(problems)} broken link"
    return False, "\n".join(
        [head + ("s)" if len(problems) != 1 else ")"), *(f"  {safe(p)}" for p in problems)]
    )


def check_reason(decision: str, reason: str | None) -> str:
    """A rejection and a skip need a reason (blank is none): a usage error, before anything
    is sent."""
    if decision in ("reject", "skip") and not (reason or "").strip():
        what = "a rejection" if decision == "reject" else "a skip"
        raise UsageError(f"{what} needs a reason: --reason TEXT")
    return reason or ""
