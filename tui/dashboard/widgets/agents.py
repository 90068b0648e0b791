"""The agent roster: state, slots used/total, current task, time since its last output."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import AgentStatus
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE
from phasegate.tui.text import safe


class AgentRoster(Static, can_focus=True):
    DEFAULT_CSS = """
    AgentRoster { border: round $primary-darken-2; height: auto; max-height: 7; padding: 0 1; }
    AgentRoster:focus { border: round $accent; }
    """

    _rows: list[tuple[str, str, str, str]] | None = None

    def on_mount(self) -> None:
        self.border_title = "Agents"

    def show(
        self, state: RunState, last_output: dict[str, float], now: float | None = None
    ) -> None:
        """`last_output`: task -> time of its newest output line; an agent is quiet since the
        newest line of its running tasks (or since they started, if they printed nothing)."""
        now = time.time() if now is None else now
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        rows: list[tuple[str, str, str, str]] = []
        for a in state.agents.values():
            status = a.status.value
            if a.status is AgentStatus.IDLE and state.finished_at is not None:
                status = "idle"
            current = sorted(a.running)
            detail = safe(current[0]) if current else "-"
            if len(current) > 1:
                detail += f" +{len(current) - 1}"
            marks = [last_output.get(t) or state.tasks[t].started_at for t in current]
            since = max((m for m in marks if m is not None), default=None)
            quiet = int(now - since) if since is not None else 0
            if quiet >= 1:  # whole seconds: the text changes at most once a second
                detail += f" · quiet {format_duration(float(quiet))}"
            rows.append((a.id, status, f"{len(a.running)}/{a.slots}", detail))
        if rows == self._rows:
            return  # nothing visible changed: no update, no layout
        self._rows = rows
        for name, status, used, detail in rows:
            grid.add_row(
                Text(safe(name), style="bold"),
                Text(status.replace("_", " "), style=STATUS_STYLE.get(status, "")),
                used,
                detail,
            )
        self.update(grid)
