"""The engine's one line per transition, as `python -m phasegate.engine` and `run --headless`
print it: text made safe for a terminal, glyphs, colour when the output is a terminal, task counts.
The command line's other plain text (tui/text.py) builds on these."""

from __future__ import annotations

import os
import re
import sys
import time

from phasegate.engine.model import events as ev
from phasegate.engine.model.durations import format_duration

# control characters (ESC, NUL, ...) and the bidi controls that reorder what follows them
# (U+202E shows `exe.txt` as `txt.exe`): all are shown as escapes, never passed to a terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """Untrusted text made inert for a terminal: control and bidi characters shown as escapes
    (`\\x1b`, `\\u202e`); safe to apply twice."""
    return _CONTROL.sub(_escape, text)


_BREAKS = {"\t": "\\t", "\n": "\\n"}


def one_line(text: str) -> str:
    """`safe`, with a tab and a line break shown as escapes too (`\\t`, `\\n`): for text that
    must stay on its line (an event's log line, a table's cell), so that a reason, a note or a
    name cannot start a line that looks like another row."""
    text = safe(text)
    if "\t" in text or "\n" in text:
        text = text.replace("\t", _BREAKS["\t"]).replace("\n", _BREAKS["\n"])
    return text


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def _unicode_ok() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower()
    return "utf" in encoding


GLYPHS = {
    "started": ("▶", ">"),
    "succeeded": ("✓", "+"),
    "failed": ("✗", "x"),
    "timed_out": ("⏱", "T"),
    "cancelled": ("■", "#"),
    "skipped": ("↷", "~"),
    "blocked": ("⊘", "!"),
    "retrying": ("↻", "r"),
    "ready": ("·", "."),
    "phase": ("═", "="),
    "probe": ("?", "?"),
    "gate": ("◆", "G"),
}


def glyph(kind: str) -> str:
    fancy, plain = GLYPHS.get(kind, ("•", "*"))
    return fancy if _unicode_ok() else plain


def _colour() -> bool:
    return (
        sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    )


_COLOURS = {
    "succeeded": "32",
    "failed": "31",
    "timed_out": "31",
    "blocked": "33",
    "cancelled": "33",
    "retrying": "33",
    "skipped": "36",
    "started": "34",
}


def paint(text: str, kind: str) -> str:
    code = _COLOURS.get(kind)
    return f"\x1b[{code}m{text}\x1b[0m" if code and _colour() else text


def waits_for_a_person(event: ev.Event) -> bool:
    """Does the event ask a person for something (a manual gate, an agent's tool request, a
    risk rule asking whether to go on)? Its line is printed even under `-q`: a quiet run that
    waits in silence looks hung."""
    if isinstance(event, ev.GateOpened):
        return event.approval == "manual"
    if isinstance(event, ev.RunPaused):
        return bool(event.ask)
    return isinstance(event, ev.PermissionAsked | ev.ChangeProposed)


def log_line(event: ev.Event, run_id: str = "last", db: str = "") -> str | None:
    """One headless log line per transition: time, glyph, task, agent, attempt, detail; `db`:
    what its hints' commands need to find the run (` --db PATH`, or "" for the default)."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))

    def row(
        kind: str, task: str, agent: str = "", attempt: int | None = None, detail: str = ""
    ) -> str:
        mark = paint(glyph(kind), kind)
        number = f"#{attempt}" if attempt else ""
        tail = f"  {one_line(detail)}" if detail else ""
        return (
            f"{clock} {mark} {safe(task):<20} {safe(agent):<12} {number:<3} {kind}{tail}".rstrip()
        )

    match event:
        case ev.TaskStarted() if event.spawned:
            return row("started", event.task, event.agent, event.attempt)
        case ev.TaskStarted():  # (no process: its failure says why, on the next line)
            return None
        case ev.TaskFinished():
            detail = event.reason if event.status != "succeeded" else ""
            return row(event.status, event.task, "", event.attempt, detail)
        case ev.TaskRetrying():
            return row(
                "retrying", event.task, "", event.attempt, f"in {format_duration(event.delay)}"
            )
        case ev.TaskBlocked():
            return row("blocked", event.task, "", None, event.reason)
        case ev.TaskSkipped():
            return row("skipped", event.task, "", None, event.reason)
        case ev.PhaseStarted():
            return f"{clock} {glyph('phase')} phase {one_line(event.phase)} started"
        case ev.PhaseFinished():
            return f"{clock} {glyph('phase')} phase {one_line(event.phase)} {event.status}"
        case ev.GateOpened(approval="manual"):
            return (
                f"{clock} {glyph('gate')} gate {one_line(event.gate)} waits for approval: "
                f"phasegate approve {run_id} {one_line(event.gate)} --reason TEXT{db}"
            )
        case ev.PermissionAsked():  # (routed like a gate: it waits for a person too)
            ask = f"{one_line(event.tool)}: {one_line(event.detail)}"
            return (
                f"{clock} {glyph('gate')} {safe(event.task)} asks to use {ask[:80]}; allow: "
                f"phasegate approve {run_id} {event.id}{db}  deny: phasegate reject {run_id} "
                f"{event.id} --reason TEXT{db}"
            )
        case ev.PermissionAnswered():
            how = "allowed" if event.allowed else "denied"
            who = one_line(event.by) + (f": {one_line(event.message)}" if event.message else "")
            return f"{clock} {glyph('gate')} request {event.id} {how} by {who}"
        case ev.GateVoted():
            return (
                f"{clock} {glyph('gate')} gate {one_line(event.gate)}: {event.decision} by "
                f"{one_line(event.user)}" + (f" ({one_line(event.reason)})" if event.reason else "")
            )
        case ev.GateRefused():
            return (
                f"{clock} {paint(glyph('blocked'), 'blocked')} gate {one_line(event.gate)}: "
                f"{event.decision} by {one_line(event.user)} refused: {one_line(event.why)}"
            )
        case ev.GateClosed():
            kind = "succeeded" if event.outcome == "passed" else "failed"
            return (
                f"{clock} {paint(glyph('gate'), kind)} gate {one_line(event.gate)} {event.outcome}"
                + (f": {one_line(event.reason)}" if event.reason else "")
            )
        case ev.ChangeProposed():  # (an amendment of the plan: it waits at its change gate)
            return _change_line(clock, event, run_id, db)
        case ev.ChangeClosed(outcome="passed"):  # (plan.amended, next, says what it did)
            return None
        case ev.ChangeClosed():
            mark = paint(glyph("gate"), "failed")
            cid, why = one_line(event.change), one_line(event.reason)
            if event.outcome == "rejected":  # (its reason: "rejected by USER: WHY")
                said = why if why.startswith("rejected") else f"rejected: {why}".rstrip(": ")
                return f"{clock} {mark} change {cid} {said}"
            return f"{clock} {mark} change {cid} not applied" + (f": {why}" if why else "")
        case ev.PlanAmended():
            mark = paint(glyph("gate"), "succeeded")
            return (
                f"{clock} {mark} change {one_line(event.change)} applied: the run follows plan "
                f"v{event.plan_version} (approved by {one_line(event.by)})"
            )
        case ev.PhaseRewound():
            where = one_line(event.phase)
            return f"{clock} {glyph('retrying')} back to phase {where}: {one_line(event.reason)}"
        case ev.RiskRaised():
            what = f"{one_line(event.subject)}: {one_line(event.message)}"
            return f"{clock} {paint('!', 'blocked')} risk {event.severity}: {what}"
        case ev.RunPaused(ask=str(asked)) if asked:
            return (
                f"{clock} {glyph('gate')} run paused by {one_line(event.by)}: it asks whether to "
                f"go on ({one_line(event.reason)}): phasegate resume {run_id}{db} goes on, "
                f"phasegate cancel {run_id}{db} stops"
            )
        case ev.RunPaused() | ev.RunResumed():
            verb = "paused" if isinstance(event, ev.RunPaused) else "resumed"
            what = f"phase {one_line(event.phase)}" if event.phase else "run"  # (paused alone)
            return f"{clock} {glyph('phase')} {what} {verb} by {one_line(event.by)}"
        case ev.ResearchStarted():
            n = len(event.queries)
            most = f" ({format_duration(event.limit)} at most)" if event.limit else ""
            asked = f"{n} quer{'ies' if n != 1 else 'y'}"
            return f"{clock} {glyph('phase')} research: asking {asked}{most}"
        case ev.ResearchFinished():
            found = f"{len(event.results)} answer{'s' if len(event.results) != 1 else ''}"
            why = f" ({one_line(event.error)})" if event.error else ""
            return f"{clock} {glyph('phase')} research {one_line(event.research)}: {found}{why}"
        case ev.RunRecovered():
            done = "; ".join(
                f"{one_line(str(t.get('task')))} attempt {t.get('attempt')}: {t.get('action')}"
                + (f" ({one_line(str(t['note']))})" if t.get("note") else "")
                for t in event.tasks
            )
            pid = f" (pid {event.engine_pid})" if event.engine_pid else ""
            return (
                f"{clock} {glyph('phase')} run taken over by {one_line(event.by)} after its engine"
                f"{pid} stopped" + (f"; in flight: {done}" if done else "")
            )
        case ev.AgentProbed() if not event.ready:
            mark = paint(glyph("blocked"), "blocked")
            return f"{clock} {mark} agent {safe(event.agent)} not ready: {one_line(event.detail)}"
        case ev.CheckFinished() if not event.passed:
            mark = paint(glyph("failed"), "failed")
            return f"{clock} {mark} check {one_line(event.name)} failed: {one_line(event.detail)}"
    return None


def _change_line(clock: str, event: ev.ChangeProposed, run_id: str, db: str) -> str:
    """An amendment proposed: by whom, how much it changes, who decides it, and how."""
    n = len(event.diff)
    whom = ", ".join(one_line(a) for a in event.approvers) or "the run's starter"
    cid = one_line(event.change)
    return (
        f"{clock} {glyph('gate')} change {cid} to the plan by {one_line(event.by)} "
        f"({n} change{'s' if n != 1 else ''}) waits for approval by {whom}: "
        f"phasegate approve {run_id} {cid} --reason TEXT{db}"
    )


def counts_text(counts: dict[str, int]) -> str:
    order = [
        "succeeded",
        "failed",
        "timed_out",
        "cancelled",
        "blocked",
        "skipped",
        "running",
        "ready",
        "pending",
    ]
    return ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
