"""The agent roster: state, slots used/total, current task, time since it started."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.durations import format_duration
from engine.state import AgentStatus, RunState

from ..text import safe
from .style import STATUS_STYLE


class AgentRoster(Static, can_focus=True):
    DEFAULT_CSS = """
    AgentRoster { border: round $primary-darken-2; height: auto; max-height: 7; padding: 0 1; }
    AgentRoster:focus { border: round $accent; }
    """

    def on_mount(self) -> None:
        self.border_title = "Agents"

    def show(
        self, state: RunState, quiet_since: dict[str, float], now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        for a in state.agents.values():
            status = a.status.value
            if a.status is AgentStatus.IDLE and state.finished_at is not None:
                status = "idle"
            current = sorted(a.running)
            detail = safe(current[0]) if current else "-"
            if len(current) > 1:
                detail += f" +{len(current) - 1}"
            since = quiet_since.get(a.id)
            if current and since is not None:
                detail += f" {format_duration(now - since)}"
            grid.add_row(
                Text(safe(a.id), style="bold"),
                Text(status.replace("_", " "), style=STATUS_STYLE.get(status, "")),
                f"{len(a.running)}/{a.slots}",
                detail,
            )
        self.update(grid)
