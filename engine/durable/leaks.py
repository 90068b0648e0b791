"""Text of a known key shape kept in a database (events, output lines, kept plans): where it
is, shown only in its redacted form. Runs of this version redact before they store; this finds
what older versions (or a shape learned since) left behind."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import msgspec

from phasegate.engine.model.secrets import REDACTED, SHAPES, kept_out, redact_shapes

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


BATCH, JOINED = 4096, 64 * 2**20  # rows searched at once, joined in SQLite; bytes at most
_SHAPED = [re.compile(pattern) for _, pattern in SHAPES]  # (each found by its first letters)
# the characters of a `long random string` (secrets.py `_LONG`: 32 or more of them) as `k`
_KEYISH = bytes(ord("k" if chr(i).isalnum() or chr(i) in "+_-" else " ") for i in range(128))
_KEYISH += b" " * 128  # (a byte of a non-ASCII character)


def _may_hold_key(text: str) -> bool:
    """Might `text` hold something of a known key shape (`key_spans`): a known shape, or 32
    key characters in a row? A few passes in C, where `key_spans` tries a pattern with
    look-arounds at each character: a key shape seen here is then looked for line by line."""
    keyish = text.encode(errors="surrogatepass").translate(_KEYISH)
    return b"k" * 32 in keyish or any(shape.search(text) for shape in _SHAPED)


def _may_hold(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[Any]:
    """The rows of `table` (`columns`, its text last) around any whose text may hold a key:
    BATCH rows at a time are joined in SQLite and searched at once (`_joined_may_hold`); a batch
    that may hold a key's shape is read row by row."""
    batch = f"SELECT max(id) FROM (SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT {BATCH})"
    joining = f"SELECT group_concat({columns.rsplit(', ', 1)[1]}, char(10)) FROM {table}"
    after = -(2**63)
    while (last := conn.execute(batch, (after,)).fetchone()[0]) is not None:
        if _joined_may_hold(conn, f"{joining} WHERE id > ? AND id <= ?", (after, last)):
            yield from conn.execute(
                f"SELECT {columns} FROM {table} WHERE id > ? AND id <= ?", (after, last)
            )
        after = last


def _joined_may_hold(conn: sqlite3.Connection, joining: str, span: tuple[int, int]) -> bool:
    """May the rows of a batch (`joining` them, a line break between: no key shape spans one)
    hold a key? They may if they are longer than JOINED bytes together."""
    cap = conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, JOINED)
    try:
        joined = conn.execute(joining, span).fetchone()[0]
    except sqlite3.DataError:  # (string or blob too big)
        return True
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, cap)
    return _may_hold_key(joined or "")


_TEXTS = (  # what is read of each table (the text last), and where a finding is
    ("events", "run_id, seq, type, data", "events seq {1} ({2})"),
    ("output", "run_id, task, attempt, line, text", "output {1}#{2} line {3}"),
)


def scan(conn: sqlite3.Connection) -> Iterator[Leak]:
    """Every piece of stored text that holds something of a known key shape, by run, then
    where, in time proportional to the text kept (hundreds of thousands of output lines are
    searched in batches, not a line at a time: 5 s of a 230 MB database's doctor)."""
    before = conn.text_factory
    # (text that is not UTF-8, kept by an older version: read as well as it can be, never
    # refused with an error that quotes it, keys and all)
    conn.text_factory = _lenient
    try:
        yield from _scan(conn)
    finally:
        conn.text_factory = before


def _lenient(raw: bytes) -> str:
    """Text as read, its bytes that are not UTF-8 replaced (a key's shape is ASCII)."""
    return raw.decode("utf-8", "replace")


def _scan(conn: sqlite3.Connection) -> Iterator[Leak]:
    names, none = _plan_names(conn), frozenset[str]()
    for table, columns, where in _TEXTS:
        found = []
        for row in _may_hold(conn, table, columns):
            text = row[-1] if isinstance(row[-1], str) else _lenient(bytes(row[-1] or b""))
            leak = _found(row[0], where.format(*row), text, names.get(row[0], none))
            found += [(row[:-1], leak)] if leak is not None else []
        yield from (leak for _, leak in sorted(found, key=lambda pair: pair[0]))
    for run_id, text, variables in conn.execute("SELECT run_id, text, vars FROM run_plans"):
        if _may_hold_key(f"{text}\n{variables}"):
            lines = [
                (f"run_plans text line {n}", line) for n, line in enumerate(text.splitlines(), 1)
            ]
            for where, piece in [*lines, ("run_plans vars", variables)]:
                leak = _found(run_id, where, piece, names.get(run_id, none))
                yield from [leak] if leak is not None else []
