"""An amendment at its change gate as front ends show it: its difference and its impact, line
by line (the same lines `phasegate amend` prints)."""

from __future__ import annotations

from typing import Any

from phasegate.engine.plan.amend import change_lines
from phasegate.engine.watch.impact import impact_lines


def change_text(diff: list[dict[str, Any]], impact: dict[str, Any]) -> list[str]:
    """`+ task three added (phase two)`, ..., then `forecast end: ...` and the critical paths."""
    return [*change_lines(list(diff)), *impact_lines(impact)]
