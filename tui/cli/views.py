"""Read-only views of the store for the command line: `show`, `logs` and the `runs` table."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from phasegate.engine.client import (
    RunRow,
    SQLiteStore,
    db_flag,
    elapsed,
    engine_alive,
    paused_phases,
    resolve_run,
    shown_status,
    stalled,
    take_over_hint,
)
from phasegate.engine.client.plans import counted_to, seconds_left, waiting_gate
from phasegate.engine.client.reports import make, metrics
from phasegate.engine.model import events as ev
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.fold import project
from phasegate.engine.model.state import RunState
from phasegate.tui.text import (
    counts_text,
    labelled,
    money,
    quoted,
    safe,
    terminal_width,
    when,
    whole_table,
)

FOLLOW_POLL = 0.2


SHORT = {  # the success metrics, as `show` names them on one line
    "task_success_rate": "success",
    "timeline_adherence": "on time",
    "quality_compliance": "quality",
    "resource_efficiency": "efficiency",
    "stakeholder_satisfaction": "satisfaction",
}


def changes_text(diff: list[dict[str, Any]]) -> str:
    """An amendment's difference on one line: +task three, -task two, ~gate review."""
    sign = {"added": "+", "removed": "-", "changed": "~"}
    return ", ".join(f"{sign.get(c['change'], '~')}{c['what']} {c['id']}" for c in diff)


async def show_run(db_path: str, ref: str, as_json: bool) -> str:
    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        facts = await make.facts_of(store, row.id)  # (with the heartbeat, as reports have it)
        state = facts.state
    finally:
        await store.close()
    scores = metrics(facts)
    alive = engine_alive(row)
    status = shown_status(row, state.status.value if state.events else None)
    held = {p.id: p for p in paused_phases(state)}  # (the run says `running` meanwhile)
    if as_json:
        data: dict[str, Any] = {
            "id": row.id,
            "plan": row.plan_name,
            "plan_path": row.plan_path,
            "status": status,
            "reason": state.reason,
            "created_at": row.created_at,
            "started_at": state.started_at,
            "finished_at": state.finished_at,
            "duration": elapsed(row, state),
            "counts": state.counts(),
            "user": row.user,
            "host": row.host,
            "engine_pid": row.engine_pid,
            "engine_alive": alive,
            "metrics": scores,
            "forecast": _forecast(state, alive),
            "question": state.question or None,
            "feedback": state.feedback_given,
            "anomalies": state.anomalies,
            "amendments": state.amendments,
            **({"usage": dict(state.usage)} if state.usage else {}),
            "phases": [
                {
                    "id": p.id,
                    "title": p.title,
                    "status": p.status.value,
                    "started_at": p.started_at,
                    "finished_at": p.finished_at,
                    # paused alone (`pause --phase`, a risk rule's `pause`): who and why
                    "paused": (
                        {"by": p.held_by, "reason": p.held_reason} if p.id in held else None
                    ),
                }
                for p in state.phases.values()
            ],
            "agents": [
                {
                    "id": a.id,
                    "status": a.status.value,
                    "slots": a.slots,
                    "detail": a.detail,
                    **(
                        {"host": a.host, "rtt_ms": a.rtt_ms, "unreachable": a.unreachable or None}
                        if a.host
                        else {}
                    ),
                }
                for a in state.agents.values()
            ],
            "tasks": [t.as_dict() for t in state.tasks.values()],
        }
        return json.dumps(data, indent=2)
    paused = f", phase{'s' if len(held) > 1 else ''} {', '.join(map(safe, held))} paused"
    head = [
        f"run {row.id}  {safe(row.plan_name)}  {status}{paused if held else ''}",
        f"  plan     {safe(row.plan_path)}",
        f"  started  {when(state.started_at)} by {safe(row.user)}@{safe(row.host)}",
        f"  duration {format_duration(elapsed(row, state))}",
        f"  tasks    {counts_text(state.counts())}",
    ]
    if state.reason:
        head.append(f"  reason   {safe(state.reason)}")
    if state.usage:
        head.append(f"  spent    {spend_text(state.usage)}")
    shown = [f"{SHORT[k]} {'n/a' if v is None else f'{v:.0f}%'}" for k, v in scores.items()]
    # (at most 80 columns when the output is no terminal, a pipe or a file read later: 92 on one
    # line, it wrapped mid-word at 80; in a terminal, its width)
    head.append(labelled("  metrics  ", shown, width=terminal_width() or 80))
    ahead = _forecast(state, alive)
    if ahead is not None:
        phases = ", ".join(
            f"{safe(p)} ~{format_duration(left)}" for p, left in ahead["phases"].items()
        )
        left = f"~{format_duration(ahead['eta_s'])}"
        each = f" ({phases})" if phases else ""  # (none left: it said `ends in ~0ms ()`)
        gate = state.gates.get(ahead["gate"] or "")
        if ahead["paused"]:  # (its time left holds until the run goes on)
            head.append(f"  forecast paused: {left} left once it goes on{each}")
        elif gate is not None:  # (as the dashboard's header: the clock stopped at the gate)
            since = format_duration(time.time() - (gate.opened_at or time.time()))
            after = f"then {left} left{each}" if ahead["eta_s"] or phases else "then the run ends"
            head.append(f"  forecast waiting for gate {safe(gate.id)} since {since}, {after}")
        else:
            head.append(f"  forecast ends in {left}{each}")
    if state.question:
        risk = state.risks.get(str(state.question.get("risk")))
        what = f"{risk.subject}: {risk.message}" if risk else str(state.question["reason"])
        head.append(
            f"  asking   {safe(state.question['by'])} asks whether to go on ({safe(what)}): "
            f"`phasegate resume {row.id}` goes on, `phasegate cancel {row.id}` stops"
        )
    for p in held.values():  # none of its tasks starts until it is resumed
        why = f": {safe(shorten(p.held_reason, 80))}" if p.held_reason else ""
        head.append(
            f"  paused   phase {safe(p.id)}, by {safe(p.held_by or '?')}{why}; "
            f"`phasegate resume {row.id}{db_flag(db_path)}` goes on"
        )
    for g in state.feedback_given:  # stakeholders' answers
        rated = f"{g['rating']}/5" if g.get("rating") is not None else "no rating"
        said = f" {quoted(shorten(g['comment'], 60))}" if g.get("comment") else ""
        head.append(f"  feedback {safe(g['user'])}: {rated}{said} ({when(g['ts'])})")
    if state.feedback_asked is not None and not state.feedback_given:
        head.append(f"  feedback asked, none given yet: `phasegate feedback {row.id} --rating N`")
    for a in state.amendments:  # the change log: amendments applied (phasegate amend)
        change = state.changes.get(a["change"])
        by = safe(change.by) if change is not None else safe(a["by"])  # (who proposed it)
        approved = f" (approved by {safe(a['by'])})" if by != safe(a["by"]) else ""
        head.append(
            f"  amended  {safe(a['change'])} (plan v{a['version']}) by {by}{approved} "
            f"{when(a['at'])}: {safe(changes_text(a['diff']))}"
        )
    for odd in state.anomalies[:5]:  # stored values this phasegate cannot read
        head.append(f"  warning  {safe(odd)} (a newer phasegate, or a damaged database?)")
    if alive:
        head.append(f"  engine   pid {row.engine_pid} ({_liveliness(row)})")
    elif status == "interrupted":
        head.append(f"  engine   stopped; {take_over_hint(db_path, row.id, row.user)}")
    rows = [
        [
            safe(t.id),
            safe(t.phase),
            safe(t.agent or "-"),
            t.status.value,
            str(t.attempts),
            format_duration(t.duration),
            "-" if t.exit_code is None else str(t.exit_code),
            shorten(safe(t.reason), 60),
        ]
        for t in state.tasks.values()
    ]
    # (narrow: the task's id, status, tries, duration and exit code whole, an id too long to
    # leave the others room on a line of its own; the reason wraps between its words, and a
    # phase's or an agent's id is cut, with an ellipsis, only when it cannot fit whole)
    names = ["task", "phase", "agent", "status", "tries", "duration", "exit", "reason"]
    body = whole_table(names, rows, whole={0, 3, 4, 5, 6})
    tests = tests_text(state)
    return "\n".join(head) + "\n\n" + body + (f"\n\n{tests}" if tests else "")


def tests_text(state: RunState) -> str:
    """The tasks' test results: counts, then the failing tests by name (failing first)."""
    lines = []
    for t in state.tasks.values():
        r = t.results
        if not r:
            continue
        if not r.get("source"):
            lines.append(f"tests of {safe(t.id)}: none read ({safe(str(r.get('error') or '?'))})")
            continue
        counts = ", ".join(f"{r.get(k, 0)} {k}" for k in ("passed", "failed", "errors", "skipped"))
        lines.append(f"tests of {safe(t.id)}: {counts} ({safe(str(r['source']))})")
        failures = r.get("failures") or []
        for f in failures[:FAILING_SHOWN]:
            message = f": {safe(f['message'])[:100]}" if f.get("message") else ""
            lines.append(f"  ✗ {safe(f['name'])}{message}")
        bad = int(r.get("failed", 0)) + int(r.get("errors", 0))
        named = min(len(failures), FAILING_SHOWN)
        if bad > named and not named:  # (a summary line counts them but names none)
            lines.append(f"  {bad} failing (names unknown)")
        elif bad > named:
            lines.append(f"  ... and {bad - named} more failing")
    return "\n".join(lines)


FAILING_SHOWN = 20  # failing tests named per task by `show`


STALE = 30.0  # seconds without a heartbeat (one every 2 s) before `show` says so


def _liveliness(row: RunRow) -> str:
    """`running`, or how long its engine (alive: its pid is the one that took the lease) has
    not written its heartbeat: a stopped or hung engine looked healthy."""
    quiet = time.time() - row.heartbeat_at if row.heartbeat_at is not None else 0.0
    if row.finished_at is not None or quiet < STALE:
        return "running"
    return f"running, but no heartbeat for {format_duration(quiet)}: stopped or hung?"


def _forecast(state: RunState, alive: bool) -> dict[str, Any] | None:
    """Seconds left to the run's and its phases' ends, from the engine's last forecast; while a
    manual gate waits for people (`gate`), what is left once it is decided: the clock stopped
    when it opened, as the dashboard's header counts it."""
    gate = waiting_gate(state)
    now = counted_to(state, time.time(), gate)
    left = seconds_left(state, now)
    if left is None or not alive:
        return None
    phases = {p: seconds_left(state, now, p) for p in state.forecast.get("phases", {})}
    return {
        "eta_s": round(left, 1),
        "phases": {p: round(v, 1) for p, v in phases.items() if v is not None},
        "guessed": state.forecast.get("guessed", 0),
        "paused": stalled(state),  # nothing runs until a person resumes the run or its phase
        "gate": gate.id if gate is not None else None,  # the manual gate the run waits for
    }


async def print_logs(
    db_path: str, ref: str, task: str | None, follow: bool, attempt: int | None, raw: bool
) -> None:
    store = await SQLiteStore.open(db_path)
    # piped or not: a terminal may be at the end of the pipe (`| less -R`, `| tee`)
    clean = (lambda s: s) if raw else safe
    try:
        row = await resolve_run(store, ref)
        events = await store.read_events(row.id)
        state = project(e for _, e in events)
        if task is not None and task not in state.tasks:
            known = ", ".join(sorted(state.tasks)[:20]) or "none"
            raise UsageError(f"run {row.id} has no task '{task}'; its tasks: {known}")
        if attempt is not None:
            _check_attempt(row, state, task, attempt, follow)
        cursor = 0
        multi = task is None
        out = sys.stdout
        ended = attempt_endings(e for _, e in events)
        drops = attempt_drops(e for _, e in events)
        shown: dict[str, int] = {}  # task -> the attempt whose lines were written last
        seen: set[tuple[str, int]] = set()  # attempts a line of which was written
        marked: set[tuple[str, int]] = set()

        async def mark(name: str, number: int) -> None:
            """Where a failed attempt's output ends (read again if the engine wrote it since),
            after what the output cap dropped of an attempt no line of which is left."""
            nonlocal ended, drops
            if (name, number) not in ended and (name, number) not in drops:
                written = [e for _, e in await store.read_events(row.id)]
                ended, drops = attempt_endings(written), attempt_drops(written)
            prefix = f"{name} | " if multi else ""
            gone = drops.get((name, number), 0)
            if gone and (name, number) not in seen:  # (none of its lines left: say so once)
                seen.add((name, number))
                lines = "its one line" if gone == 1 else f"all {gone:,} of its lines"
                out.write(f"{clean(prefix)}── attempt {number}: {lines} dropped by the output ")
                out.write("cap (the plan's output_cap) ──\n")
            how = ended.get((name, number))
            if how is not None and (name, number) not in marked:
                marked.add((name, number))
                out.write(f"{clean(prefix)}── attempt {number} {how} ──\n")

        while True:
            fresh = await store.get_run(row.id)
            over = fresh is None or fresh.finished_at is not None or not engine_alive(fresh)
            batch = await store.tail_output(row.id, cursor, task)
            for _, line in batch:
                if attempt is None or line.attempt == attempt:
                    before = shown.get(line.task)
                    prefix = f"{line.task} | " if multi else ""
                    if before != line.attempt:
                        # every earlier attempt's end first, in order (a silent one too): the
                        # lines that follow are this attempt's
                        for number in range(1, line.attempt) if attempt is None else ():
                            await mark(line.task, number)  # (it reads what ended since)
                        if before is not None:
                            await mark(line.task, before)
                        if line.line > 1:  # (the store keeps an attempt's last lines only)
                            dropped = line.line - 1
                            out.write(f"{clean(prefix)}── {_lines(dropped)} dropped by the ")
                            out.write("output cap (the plan's output_cap) ──\n")
                    shown[line.task] = line.attempt
                    seen.add((line.task, line.attempt))
                    out.write(f"{clean(prefix)}{clean(line.text)}\n")
            out.flush()
            if batch:
                cursor = batch[-1][0]
                continue
            if not follow or over:  # read after the run ended: nothing more will come
                for name, number in shown.items():  # (a last attempt that failed too)
                    await mark(name, number)
                written = [e for _, e in await store.read_events(row.id)]
                ended, drops = attempt_endings(written), attempt_drops(written)
                # attempts that ended badly, silent, and those the output cap left nothing of
                for name, number in sorted(ended.keys() | {k for k, n in drops.items() if n}):
                    # (attempt 0: a task stopped before it ever ran has no attempt to mark)
                    if number >= 1 and (task is None or name == task) and attempt in (None, number):
                        await mark(name, number)
                out.flush()
                if follow and fresh is not None and fresh.finished_at is None:
                    # its engine died: no more lines until the run is taken over (as `runs` and
                    # `show` say it; exit 0 all the same, as theirs, and as after a failed run)
                    sys.stderr.write(f"phasegate: {interrupted(fresh.id, db_path)}\n")
                return
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        await store.close()


def interrupted(run_id: str, db_path: str) -> str:
    """What a command following a run says once its engine is gone and the run unfinished."""
    return f"run {run_id} was interrupted: its engine is not running; " + take_over_hint(
        db_path, run_id
    )


def _lines(n: int) -> str:
    return "1 earlier line" if n == 1 else f"{n:,} earlier lines"


def _check_attempt(
    row: RunRow, state: RunState, task: str | None, attempt: int, follow: bool
) -> None:
    """UsageError for an attempt the run has not made (of TASK, or of any task): printing
    nothing and exiting 0 would say it made one, silent. Following a live run, a later
    attempt may still come."""
    tasks = [state.tasks[task]] if task is not None else list(state.tasks.values())
    made = max((t.attempts for t in tasks), default=0)
    if attempt <= made or (follow and row.finished_at is None and engine_alive(row)):
        return
    of = f"task '{task}' of run {row.id}" if task is not None else f"run {row.id}"
    if made == 0:
        raise UsageError(f"{of} has no attempt {attempt}: it has not run yet")
    there = "1" if made == 1 else f"1 to {made}"
    raise UsageError(f"{of} has no attempt {attempt}; its attempts: {there}")


PLAN_SHOWN = 30  # characters of a plan's name `runs` shows (more: cut, with an ellipsis)


def runs_table(rows: Iterable[RunRow], width: int | None = None) -> str:
    """`phasegate runs`, newest first: on a terminal too narrow for the table (`width`: its
    columns; default: standard output's, when it is one), the ids, statuses, start times and
    durations stay whole, the tasks' counts wrap between words, and a plan's name too long
    for what is left is cut, with an ellipsis."""
    cut = [
        [
            r.id,
            # (a long name cut: it took a column of many lines, and pushed every row's start
            # onto two; `--json` and `show` have it whole)
            shorten(r.plan_name, PLAN_SHOWN),
            shown_status(r),
            when(r.started_at or r.created_at),
            format_duration(r.duration),
            counts_text(r.counts),
        ]
        for r in rows
    ]
    head = ["id", "plan", "status", "started", "duration", "tasks"]
    return whole_table(head, cut, whole={0, 2, 3, 4}, width=width, cut=frozenset({1}))


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis when it is longer."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def attempt_endings(events: Iterable[ev.Event]) -> dict[tuple[str, int], str]:
    """(task, attempt) -> how the attempt ended badly (`failed: exited with code 1`), or that
    a take-over stopped it."""
    out: dict[tuple[str, int], str] = {}
    for e in events:
        if isinstance(e, ev.TaskFinished) and e.status != "succeeded":
            why = e.reason or (f"exited with code {e.exit_code}" if e.exit_code is not None else "")
            out[(e.task, e.attempt)] = f"{e.status.replace('_', ' ')}: {why}" if why else e.status
        elif isinstance(e, ev.RunRecovered):  # (its engine died with the attempt in flight)
            for entry in e.tasks:
                action = entry.get("action")
                if action in ("rerun", "skipped"):
                    then = "run again" if action == "rerun" else "skipped"
                    key = (str(entry.get("task")), int(entry.get("attempt") or 0))
                    out[key] = f"interrupted: stopped when the engine was taken over ({then})"
    return out


def attempt_drops(events: Iterable[ev.Event]) -> dict[tuple[str, int], int]:
    """(task, attempt) -> how many of its lines the output cap dropped, of each that ended."""
    return {(e.task, e.attempt): e.dropped for e in events if isinstance(e, ev.TaskFinished)}


def spend_text(usage: dict[str, Any]) -> str:
    """`$0.0123 (reported) · 1,200 in / 80 out tokens · 3 turns`: what coding agents spent."""
    sources = usage.get("cost_sources") or []
    cost = float(usage.get("cost_usd", 0.0))
    dollars = f"{money(cost)} ({', '.join(sources)})" if sources else "cost unknown"
    tokens = f"{usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out tokens"
    return f"{dollars} · {tokens} · {usage.get('turns', 0)} turns"
