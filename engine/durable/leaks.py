"""Text of a known key shape kept in a database (events, output lines, kept plans): where it
is, shown only in its redacted form. Runs of this version redact before they store; this finds
what older versions (or a shape learned since) left behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import msgspec

from phasegate.engine.model.secrets import REDACTED, key_spans, redact_shapes

CONTEXT = 30  # characters shown on each side of the (redacted) key


class Leak(msgspec.Struct, frozen=True):
    run_id: str
    where: str  # `events seq 12`, `output build#1 line 3`, `run_plans text line 7`
    kind: str  # what the key looks like
    shown: str  # the text around it, redacted

    def __str__(self) -> str:
        return f"run {self.run_id}, {self.where}: {self.kind}: {self.shown}"


def _around(text: str) -> str:
    """The text around the first key, every key in it redacted (never the value itself)."""
    clean = redact_shapes(text)
    at = clean.find(REDACTED)
    start, end = max(0, at - CONTEXT), at + len(REDACTED) + CONTEXT
    piece = clean[start:end].replace("\n", "⏎")
    return ("…" if start else "") + piece + ("…" if end < len(clean) else "")


def _found(run_id: str, where: str, text: str) -> Leak | None:
    span = next(key_spans(text), None)
    if span is None:
        return None
    return Leak(run_id, where, span[2], _around(text))


def scan(conn: sqlite3.Connection) -> Iterator[Leak]:
    """Every piece of stored text that holds something of a known key shape."""
    for run_id, seq, kind, data in conn.execute(
        "SELECT run_id, seq, type, data FROM events ORDER BY run_id, seq"
    ):
        leak = _found(run_id, f"events seq {seq} ({kind})", data)
        if leak is not None:
            yield leak
    for run_id, task, attempt, line, text in conn.execute(
        "SELECT run_id, task, attempt, line, text FROM output ORDER BY run_id, task, attempt, line"
    ):
        leak = _found(run_id, f"output {task}#{attempt} line {line}", text)
        if leak is not None:
            yield leak
    for run_id, text, variables in conn.execute("SELECT run_id, text, vars FROM run_plans"):
        for number, line in enumerate(text.splitlines(), 1):
            leak = _found(run_id, f"run_plans text line {number}", line)
            if leak is not None:
                yield leak
        leak = _found(run_id, "run_plans vars", variables)
        if leak is not None:
            yield leak
