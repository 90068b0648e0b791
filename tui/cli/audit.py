"""`phasegate audit RUN [--json] [--verify]`: a run's audit trail, each decision and command
with who made it (the OS user and uid, from where) and what the engine answered; and the check
of its hash chain."""

from __future__ import annotations

import json
from typing import Any

from phasegate.engine.client import SQLiteStore, resolve_run
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.model.state import RunState
from phasegate.tui.text import safe, when, whole_table


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
    decisive = _closing_votes(events)
    noted = ""  # a live note's text (its command's answer says only "noted")
    for i, e in enumerate(events):
        apply(state, e)
        if isinstance(e, ev.RunNoted):
            noted = e.text
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
            # the engine's answer, as a command's row has it: what the vote did, or why not
            if isinstance(e, ev.GateVoted):
                outcome, closed = _vote_outcome(state, e, i in decisive)
            else:
                outcome, closed = e.why, False
            gate = state.gates.get(e.gate)
            rows.append(
                {
                    "time": e.ts,
                    "gate": e.gate,
                    # which opening of the gate (a rejection that sent the run back opens it again)
                    "attempt": gate.attempt if gate is not None else None,
                    "decision": e.decision,
                    "user": e.user,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": e.reason,
                    "accepted": isinstance(e, ev.GateVoted),
                    "why": e.why if isinstance(e, ev.GateRefused) else "",
                    "outcome": outcome,
                    "closed_gate": closed,  # (None: not known)
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
                    # the operator's own ("" when none was given); a note's text
                    "reason": e.reason or (noted if e.kind == "note" and e.ok else ""),
                    "accepted": e.ok,
                    "why": "" if e.ok else e.message,
                    "outcome": e.message,  # the engine's answer, done or refused
                    "target": e.target,  # what it acted on (`task build`; "": the run)
                }
            )
        elif isinstance(e, ev.RunNoted) and state.finished_at is not None:
            # (after the run's end: no engine took it as a command, whose row says it)
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": "note",
                    "user": e.by,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": e.text,
                    "accepted": True,
                    "outcome": "noted after the run's end",
                }
            )
        elif isinstance(e, ev.RunRecovered):  # a take-over: who, and what became of its tasks
            rows.append(
                {
                    "time": e.ts,
                    "gate": "",
                    "decision": "run taken over",
                    "user": e.by,
                    "uid": e.uid,
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
                    "reason": _recovered(e),
                    "accepted": True,
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
                    "uid": e.uid,  # (-1: recorded before the starter's uid was kept)
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
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
                    "uid": e.uid,  # (who resumed the run: -1 and "" when not known)
                    "host": e.host,
                    "tty": e.tty,
                    "ssh": e.ssh,
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
    return whole_table(
        ["time", "on", "decision", "by", "from", "reason"],
        [
            [
                when(r["time"]),
                # a gate (`qa #2`: its second opening), a change, a task...
                safe(
                    (r["gate"] + (f" #{r['attempt']}" if (r.get("attempt") or 0) > 1 else ""))
                    or r.get("target")
                    or "-"
                ),
                safe(r["decision"]) + ("" if r["accepted"] else " (refused)"),
                # (a uid of -1: no OS user, a budget's own action, or one not recorded)
                safe(
                    r["user"] + (f" ({r['uid']})" if r.get("uid", -1) >= 0 else "")
                    if r["user"]
                    else "-"
                ),
                safe(_where(r)),
                safe(_because(r)),  # (whole: the table wraps it to the terminal's width)
            ]
            for r in rows
        ],
        whole={0, 2},
    )


def _where(row: dict[str, Any]) -> str:
    """An audit row's FROM column: the host, the terminal (`pts/3`), `ssh` for a session over
    SSH (its client's address is in --json)."""
    tty = str(row.get("tty") or "").removeprefix("/dev/")
    said = [row.get("host", ""), tty, "ssh" if row.get("ssh") else ""]
    return " ".join(s for s in said if s)


def _recovered(e: ev.RunRecovered) -> str:
    """What a take-over did with the dead engine's tasks: `rerun: a, b; adopted: c`."""
    by: dict[str, list[str]] = {}
    for entry in e.tasks:
        by.setdefault(str(entry.get("action")), []).append(str(entry.get("task")))
    said = "; ".join(f"{action}: {', '.join(tasks)}" for action, tasks in by.items())
    engine = f"engine pid {e.engine_pid} had stopped" if e.engine_pid else "its engine had stopped"
    return f"{engine}; {said}" if said else engine


def _closing_votes(events: list[ev.Event]) -> set[int]:
    """The indexes of the votes that closed a change gate: each change's last vote before its
    `change.closed` (a change may wait for several: engine/run/amend_oversight.py)."""
    last: dict[str, int] = {}
    found: set[int] = set()
    for i, e in enumerate(events):
        if isinstance(e, ev.GateVoted):
            last[e.gate] = i
        elif isinstance(e, ev.ChangeClosed) and e.change in last:
            found.add(last.pop(e.change))
    return found


def _vote_outcome(
    state: RunState, vote: ev.GateVoted, closing: bool = False
) -> tuple[str, bool | None]:
    """What an accepted vote did, from the run as it leaves it (`state`, the vote folded in):
    (`approved` or `rejected` and what came of it, whether it closed its gate). One
    rejection closes a gate, and so does its quorum's last approval; an agent's tool request
    is closed by its one decision, a change gate by the vote that gives its last approval
    (`closing`)."""
    said = "approved" if vote.decision == "approve" else "rejected"
    gate = state.gates.get(vote.gate)
    if gate is not None:
        if vote.decision == "reject" and gate.rejected:
            return f"{said}: the gate is rejected", True
        if len(gate.approved_by) >= gate.quorum:
            return f"{said}: the gate passes", True
        n = len(gate.approved_by)
        return f"{said}: {n} of {gate.quorum} approvals, the gate still waits", False
    if vote.gate in state.permissions:
        return f"{said}: the request is {'allowed' if said == 'approved' else 'denied'}", True
    if vote.gate in state.changes:
        if closing:
            return f"{said}: it decides {vote.gate}", True
        return f"{said}: {vote.gate} still waits for more approvals", False
    return said, None


def _because(row: dict[str, Any]) -> str:
    """An audit row's REASON column: the reason given, then the engine's answer to a command
    or why it was refused (each once)."""
    said = [row["reason"], row.get("outcome") or row.get("why", "")]
    if row["accepted"] and "outcome" not in row:
        said = said[:1]
    return " - ".join(dict.fromkeys(s for s in said if s))


async def verify(db_path: str, ref: str, as_json: bool) -> tuple[bool, str]:
    """Walk the run's hash chain and check its anchor and row: (holds, what to print), with
    what could not be verified (a run recorded before anchors: the end of its chain)."""
    from phasegate.engine.client import verify_chain

    store = await SQLiteStore.open(db_path)
    notes: list[str] = []
    try:
        row = await resolve_run(store, ref)
        count, problems = await verify_chain(store, row.id, notes)
    finally:
        await store.close()
    if as_json:
        said = {"run": row.id, "events": count, "ok": not problems, "problems": problems}
        return not problems, json.dumps({**said, "notes": notes}, indent=2)
    if not problems:
        lines = [f"run {row.id}: the hash chain of its {count} events holds"]
    else:
        n = len(problems)
        lines = [
            f"run {row.id}: its audit trail was tampered with ({n} problem{'s' if n != 1 else ''})",
            *(f"  {safe(p)}" for p in problems),
        ]
    return not problems, "\n".join([*lines, *(f"  note: {safe(n)}" for n in notes)])
