"""Plain-text rendering for the command line: safe text, tables, log lines, glyphs. The log
lines, safe text, glyphs, colours and counts are the engine's (engine/logline.py), re-used here."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from phasegate.engine.client import counts_text, log_line, one_line, paint, safe

__all__ = [
    "counts_text",
    "labelled",
    "log_line",
    "money",
    "one_line",
    "paint",
    "quoted",
    "safe",
    "table",
    "terminal_width",
    "when",
    "whole_table",
]


def money(usd: float) -> str:
    """Dollars as people read them: `$12`, `$1.23`, and cents' fractions for what coding agents
    spend a prompt at a time (`$0.0016`)."""
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:.2f}"
    return f"${usd:.4f}" if usd else "$0"


def quoted(text: str) -> str:
    """Untrusted text on one line between quotes, its control characters escaped once
    (`repr()` of the escaped text doubled its backslashes: `\\\\x1b`); in double quotes when it
    holds a single one and no double one, as `repr()`."""
    line = one_line(text)
    mark = '"' if "'" in line and '"' not in line else "'"
    return f"{mark}{line}{mark}"


MIN_COLUMN = 8  # a column is not made narrower than this (or its header) to fit a terminal


def terminal_width() -> int | None:
    """The columns of the terminal standard output is (None: a pipe or a file, never wrapped)."""
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (OSError, ValueError):
        return None


def labelled(label: str, items: Sequence[str], sep: str = " · ", width: int | None = None) -> str:
    """`  label  a · b · c` on one line, or, on a narrower terminal (`width`: its columns;
    default: standard output's, when it is one), broken between items, each further line
    indented under the first item."""
    limit = terminal_width() if width is None else width
    lines = [label + (items[0] if items else "")]
    mark = cells(sep.rstrip())  # (what ends a broken line, after its last item)
    for n, item in enumerate(items[1:], 2):
        room = limit - (mark if n < len(items) else 0) if limit is not None else None
        if room is not None and cells(lines[-1] + sep + item) > room:
            lines[-1] += sep.rstrip()
            lines.append(" " * cells(label) + item)
        else:
            lines[-1] += sep + item
    return "\n".join(lines)


PIPE_WIDTH = 80  # the columns a long chain is cut to when the output is no terminal
# a chain (a critical path) of more tasks than CHAIN_WHOLE, longer than CHAIN_LINES lines, shows
# its first and last CHAIN_ENDS tasks only (--json: whole)
CHAIN_WHOLE, CHAIN_LINES, CHAIN_ENDS = 12, 3, 4


def chain(label: str, path: Sequence[str], width: int | None = None) -> str:
    """A chain of tasks (`a -> b -> c`) after `label`, broken between names at `width` (None:
    the terminal's, PIPE_WIDTH when there is none). One of more than CHAIN_WHOLE tasks that
    takes more than CHAIN_LINES lines shows its first and last CHAIN_ENDS and how many are
    left out between (2,000 tasks made one line of 4,000 characters in a pipe, or screenfuls
    on a terminal)."""
    width = width or terminal_width() or PIPE_WIDTH
    shown = labelled(label, path, " -> ", width)
    if len(path) <= CHAIN_WHOLE or shown.count("\n") < CHAIN_LINES:
        return shown
    more = f"... {len(path) - 2 * CHAIN_ENDS:,} more ..."
    return labelled(label, [*path[:CHAIN_ENDS], more, *path[-CHAIN_ENDS:]], " -> ", width)


def cells(text: str) -> int:
    """The terminal columns `text` takes: two for a wide character (CJK, most emoji)."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cells(text))


def _wrap(text: str, room: int) -> list[str]:
    """`text` in lines of at most `room` columns, broken between words where it can."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while cells(word) > room:  # (a word wider than the column: cut where it must be)
            if line:
                lines.append(line)
                line = ""
            cut = next(i for i in range(len(word), 0, -1) if cells(word[:i]) <= room)
            lines.append(word[:cut])
            word = word[cut:]
        joined = f"{line} {word}" if line else word
        if cells(joined) <= room:
            line = joined
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return lines


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int | None = None,
    max_lines: int | None = None,
) -> str:
    """Columns of text; every cell is made safe for a terminal here, whoever filled it, and
    kept on its row (a line break in a reason or a note is shown as `\\n`). Columns are
    measured in terminal columns (a wide character takes two). On a terminal narrower than the
    table (`width`: its columns; default: standard output's, when it is one), the widest
    columns are narrowed, one column at a time, and their text wraps inside them, so that no
    line runs past the edge and every column stays aligned (a pipe gets one line per row). A
    cell that wraps to more than `max_lines` lines is cut there, with an ellipsis."""
    rows = [[one_line(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], cells(cell))
    limit = terminal_width() if width is None else width
    gap = 2 * (len(widths) - 1)
    if limit is not None and sum(widths) + gap > limit:
        # names stay whole where they can: a column narrows to its longest word first
        words = [
            max([len(h), *(cells(w) for r in rows if i < len(r) for w in r[i].split(" "))])
            for i, h in enumerate(headers)
        ]
        widths = (
            _fit(widths, words, limit) or _fit(widths, [len(h) for h in headers], limit) or widths
        )
    return _render(headers, rows, widths, max_lines)


def _render(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: list[int],
    max_lines: int | None,
    alone: bool = False,
) -> str:
    """The table's lines, its columns `widths` wide: a cell wider than its column wraps inside
    it; with `alone`, a first cell wider than its column is on a line of its own, the rest
    of its row on the next line (as `df` has a long file system's name)."""
    lines = ["  ".join(_pad(h.upper(), w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        if alone and r and cells(r[0]) > widths[0]:
            lines.append(r[0])
            r = ["", *r[1:]]
        parts = [_wrap(c, w) if cells(c) > w else [c] for c, w in zip(r, widths, strict=False)]
        if max_lines is not None:
            parts = [_cut(p, w, max_lines) for p, w in zip(parts, widths, strict=False)]
        for k in range(max((len(p) for p in parts), default=1)):
            shown = (p[k] if k < len(p) else "" for p in parts)
            lines.append(
                "  ".join(_pad(c, w) for c, w in zip(shown, widths, strict=False)).rstrip()
            )
    return "\n".join(lines)


def whole_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    whole: set[int],
    width: int | None = None,
    max_lines: int | None = None,
    cut: frozenset[int] = frozenset(),
) -> str:
    """`table`, for a table whose columns `whole` (ids, statuses, times, durations) must be
    read whole: on a terminal too narrow for it (`width`: its columns; default: standard
    output's, when it is one) they are never wrapped nor narrowed; the other columns (free
    text) are narrowed, the widest first, down to their longest word and then to their
    header, and their text wraps inside them (a word wider than its column goes on over
    lines: nothing is cut but by `max_lines`, or in the columns `cut`, where such a word is
    cut with an ellipsis: a listing's names, whole elsewhere). When the first column is whole,
    an id of it too long to leave the others room is shown whole on a line of its own, the
    rest of its row on the next line, under the headers (as `df` has a long name). A pipe
    gets one line a row, as `table` gives it; on a terminal too narrow for the whole columns
    and the free columns' headers, it is `table`'s."""
    limit = terminal_width() if width is None else width
    rows = [[one_line(c) for c in r] for r in rows]
    natural = [
        max([len(h), *(cells(r[i]) for r in rows if i < len(r))]) for i, h in enumerate(headers)
    ]
    gap = 2 * (len(headers) - 1)
    if limit is None or sum(natural) + gap <= limit:
        return table(headers, rows, width=limit, max_lines=max_lines)
    free = [i for i in range(len(headers)) if i not in whole]
    header = {i: max(len(headers[i]), 2) for i in free}  # (2: a wide character fits)
    widths = list(natural)
    lead = 0 in whole
    if lead:  # (the first column as wide as its longest cell that leaves the others room)
        room = limit - gap - sum(natural[i] for i in whole if i) - sum(header.values())
        fits = [cells(r[0]) for r in rows if cells(r[0]) <= room]
        widths[0] = max([len(headers[0]), min(natural[0], MIN_COLUMN), *fits])  # (8: a run id)
    room = limit - gap - sum(widths[i] for i in whole)
    if room < sum(header.values()):
        return table(headers, rows, width=limit, max_lines=max_lines)
    words = {
        i: max([header[i], *(cells(w) for r in rows if i < len(r) for w in r[i].split(" "))])
        for i in free
    }
    for floor in (  # (each free column kept as wide as its longest word while it can be)
        {i: max(words[i], min(natural[i], MIN_COLUMN)) for i in free},
        {i: min(natural[i], max(header[i], MIN_COLUMN)) for i in free},
        header,
    ):
        if sum(max(floor[i], 0) for i in free) <= room:
            break
    while sum(widths[i] for i in free) > room:
        i = max(free, key=lambda k: (widths[k] > floor[k], widths[k], k))
        widths[i] -= 1
    rows = [
        [" ".join(_cut_word(w, widths[i]) for w in c.split(" ")) if i in cut else c
         for i, c in enumerate(r)]
        for r in rows
    ]  # fmt: skip
    return _render(headers, rows, widths, max_lines, alone=lead)


def _cut_word(word: str, room: int) -> str:
    """`word` as it is, or cut to `room` columns with an ellipsis when it is wider."""
    if cells(word) <= room:
        return word
    end = next(i for i in range(len(word), -1, -1) if cells(word[:i]) < room)
    return word[:end] + "…"


def _cut(lines: list[str], room: int, most: int) -> list[str]:
    """A cell's wrapped `lines`, at most `most` of them: the last one kept filled with what
    followed it, as far as `room` columns allow, and ended with an ellipsis."""
    if len(lines) <= most:
        return lines
    rest = " ".join(lines[most - 1 :])
    cut = next(i for i in range(min(len(rest), room - 1), -1, -1) if cells(rest[:i]) < room)
    return [*lines[: most - 1], rest[:cut].rstrip() + "…"]


def _fit(widths: list[int], floors: list[int], limit: int) -> list[int] | None:
    """Column widths that fit `limit` columns, the widest narrowed first (never below its
    floor or MIN_COLUMN); None when the table fits as it is, or cannot be made to."""
    gap = 2 * (len(widths) - 1)
    over = sum(widths) + gap - limit
    if over <= 0:
        return None
    least = [max(f, MIN_COLUMN) for f in floors]
    if sum(min(w, m) for w, m in zip(widths, least, strict=True)) + gap > limit:
        return None  # (too narrow a terminal: left to it to wrap)
    fitted = list(widths)
    while over > 0:
        i = max(range(len(fitted)), key=lambda k: (fitted[k] > least[k], fitted[k], k))
        fitted[i] -= 1
        over -= 1
    return fitted


def when(ts: float | None, short: bool = False) -> str:
    """Local time: `2026-11-24 23:37:19`, or `11-24 23:37` where columns are narrow."""
    if ts is None:
        return "-"
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S", time.localtime(ts))
