"""Plain-text rendering for the command line: safe text, tables, log lines, glyphs. The log
lines, safe text, glyphs, colours and counts are the engine's (engine/logline.py), re-used here."""

from __future__ import annotations

import time
from collections.abc import Sequence

from phasegate.engine.client import counts_text, log_line, one_line, paint, safe

__all__ = ["counts_text", "log_line", "money", "one_line", "paint", "safe", "table", "when"]


def money(usd: float) -> str:
    """Dollars as people read them: `$12`, `$1.23`, and cents' fractions for what coding agents
    spend a prompt at a time (`$0.0016`)."""
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 1:
        return f"${usd:.2f}"
    return f"${usd:.4f}" if usd else "$0"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns of text; every cell is made safe for a terminal here, whoever filled it, and
    kept on its row (a line break in a reason or a note is shown as `\\n`)."""
    rows = [[one_line(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def when(ts: float | None, short: bool = False) -> str:
    """Local time: `2026-11-24 23:37:19`, or `11-24 23:37` where columns are narrow."""
    if ts is None:
        return "-"
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S", time.localtime(ts))
