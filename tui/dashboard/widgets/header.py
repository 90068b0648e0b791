"""The run header: plan, run id, status, elapsed time, ETA (the engine's forecast, counted down)
and counts by status, on one line."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from phasegate.engine.client.plans import seconds_left
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, counts_glyphs
from phasegate.tui.text import money, safe


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, state: RunState, run_id: str, alive: bool, now: float | None = None) -> None:
        now = time.time() if now is None else now
        end = state.finished_at if state.finished_at is not None else now
        elapsed = end - state.started_at if state.started_at else None
        status = state.status.value
        if not alive and status in ("running", "paused", "pending") and state.events:
            status = "interrupted"
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(safe(state.plan_name or "phasegate")[:24], style="bold")
        line.append(f"  {run_id}  ")
        line.append(status, style=STATUS_STYLE.get(status, "bold"))
        line.append(f"  {format_duration(elapsed)}  ")
        spent = float(state.usage.get("cost_usd", 0.0))
        if spent:  # what its coding agents spent
            line.append(f"{money(spent)}  ")
        left = seconds_left(state, now)
        if left is not None and alive:
            line.append(f"ETA {format_duration(left)}  ")
        line.append_text(counts_glyphs(state.counts()))
        self.update(line)
