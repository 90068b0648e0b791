"""Text of a known key shape kept in a database (events, output lines, kept plans): where it
is, shown only in its redacted form. Runs of this version redact before they store; this finds
what older versions (or a shape learned since) left behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import msgspec

from phasegate.engine.model.secrets import REDACTED, kept_out, redact_shapes

CONTEXT = 30  # characters shown on each side of the (redacted) key


class Leak(msgspec.Struct, frozen=True):
    run_id: str
    where: str  # `events seq 12`, `output build#1 line 3`, `run_plans text line 7`
    kind: str  # what the key looks like
    shown: str  # the text around it, redacted

    def __str__(self) -> str:
        return f"run {self.run_id}, {self.where}: {self.kind}: {self.shown}"


def _around(text: str, names: frozenset[str]) -> str:
    """The text around the first key, every key in it redacted (never the value itself)."""
    clean = redact_shapes(text, names)
    at = clean.find(REDACTED)
    start, end = max(0, at - CONTEXT), at + len(REDACTED) + CONTEXT
    piece = clean[start:end].replace("\n", "⏎")
    return ("…" if start else "") + piece + ("…" if end < len(clean) else "")


def _found(run_id: str, where: str, text: str, names: frozenset[str]) -> Leak | None:
    spans = kept_out(text, names)
    if not spans:
        return None
    return Leak(run_id, where, spans[0][2], _around(text, names))


def _plan_names(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Each run's ids (agents, phases, tasks, gates: from its start): a task named
    `run-risk-assessment-of-release` holds `sk-` and twenty more characters and is no key, as
    the run's own redaction has it (Redactor's `keep`)."""
    found: dict[str, frozenset[str]] = {}
    for run_id, data in conn.execute("SELECT run_id, data FROM events WHERE type = 'run.started'"):
        try:
            started = msgspec.json.decode(data)
        except msgspec.DecodeError:
            continue
        ids = {
            str(item.get("id", ""))
            for part in ("agents", "phases", "tasks", "gates")
            for item in started.get(part) or ()
            if isinstance(item, dict)
        }
        found[run_id] = found.get(run_id, frozenset()) | frozenset(ids - {""})
    return found


def scan(conn: sqlite3.Connection) -> Iterator[Leak]:
    """Every piece of stored text that holds something of a known key shape."""
    names = _plan_names(conn)
    none: frozenset[str] = frozenset()
    for run_id, seq, kind, data in conn.execute(
        "SELECT run_id, seq, type, data FROM events ORDER BY run_id, seq"
    ):
        leak = _found(run_id, f"events seq {seq} ({kind})", data, names.get(run_id, none))
        if leak is not None:
            yield leak
    for run_id, task, attempt, line, text in conn.execute(
        "SELECT run_id, task, attempt, line, text FROM output ORDER BY run_id, task, attempt, line"
    ):
        where = f"output {task}#{attempt} line {line}"
        leak = _found(run_id, where, text, names.get(run_id, none))
        if leak is not None:
            yield leak
    for run_id, text, variables in conn.execute("SELECT run_id, text, vars FROM run_plans"):
        kept = names.get(run_id, none)
        for number, line in enumerate(text.splitlines(), 1):
            leak = _found(run_id, f"run_plans text line {number}", line, kept)
            if leak is not None:
                yield leak
        leak = _found(run_id, "run_plans vars", variables, kept)
        if leak is not None:
            yield leak
