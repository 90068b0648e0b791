"""The run header: plan, run id, status, elapsed time, ETA (the engine's forecast, counted down)
and counts by status, on one line. While a manual gate waits for people the status says so
(`waiting for gate review since 10m00s`) and the ETA stops counting down: it is what is left
once the gate is decided (`then ~1m30s`). While nothing runs and nothing starts until a person
resumes the run or the phase under way (paused alone, by a risk rule's `pause` say), the ETA
says `ETA paused`: its time left holds meanwhile."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from phasegate.engine.client import stalled
from phasegate.engine.client.plans import seconds_left
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import GateState, RunState
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, counts_glyphs
from phasegate.tui.text import money, safe


def waiting_gate(state: RunState) -> GateState | None:
    """The manual gate that has waited longest for people (open, the run not ended)."""
    if state.finished_at is not None:
        return None
    open_ = [g for g in state.gates.values() if g.status == "open" and g.approval == "manual"]
    return min(open_, key=lambda g: g.opened_at or 0.0, default=None)


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, state: RunState, run_id: str, alive: bool, now: float | None = None) -> None:
        now = time.time() if now is None else now
        line = self._line(state, run_id, alive, now, compact=False)
        room = self.size.width - 2  # (its padding)
        if 0 < room < line.cell_len:  # 80 columns: the times and counts matter more than names
            line = self._line(state, run_id, alive, now, compact=True)
        self.update(line)

    def _line(self, state: RunState, run_id: str, alive: bool, now: float, compact: bool) -> Text:
        end = state.finished_at if state.finished_at is not None else now
        elapsed = end - state.started_at if state.started_at else None
        status = state.status.value
        if not alive and status in ("running", "paused", "pending") and state.events:
            status = "interrupted"
        line = Text(no_wrap=True, overflow="ellipsis")
        if not compact:  # (compact: the run id names the run)
            line.append(safe(state.plan_name or "phasegate")[:24], style="bold")
            line.append("  ")
        line.append(f"{run_id}  ")
        gate = waiting_gate(state) if alive and status == "running" else None
        if gate is not None:
            since = format_duration(now - (gate.opened_at or now))
            if compact:
                name = gate.id if len(gate.id) <= 16 else gate.id[:15] + "…"
                line.append(f"gate {safe(name)} waits {since}", style="bold yellow")
            else:
                line.append(f"waiting for gate {safe(gate.id)} since {since}", style="bold yellow")
        else:
            line.append(status, style=STATUS_STYLE.get(status, "bold"))
        line.append(f"  {format_duration(elapsed)}  ")
        spent = float(state.usage.get("cost_usd", 0.0))
        if spent:  # what its coding agents spent
            line.append(f"{money(spent)}  ")
        if gate is not None:  # the clock stopped when the gate opened: what is left after it
            at = float(state.forecast["at"]) if state.forecast else now
            left = seconds_left(state, max(at, min(now, gate.opened_at or now)))
            if left is not None:
                line.append(f"then ~{format_duration(left)}  ")
        else:
            left = seconds_left(state, now)
            if left is not None and alive and stalled(state):  # (held: it would look stale)
                line.append("ETA paused", style=STATUS_STYLE.get("held", ""))
                line.append("  ")
            elif left is not None and alive:
                line.append(f"ETA {format_duration(left)}  ")
        line.append_text(counts_glyphs(state.counts()))
        return line
