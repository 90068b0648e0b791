"""Phase panels: one line per phase with status, progress, timebox used and the forecast's time
left until it ends (`~3m`, red when that runs past its timebox)."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.durations import format_duration
from engine.forecast import seconds_left
from engine.state import RunState, TaskStatus

from ..text import safe
from .style import GATE_STYLE, STATUS_STYLE, status_glyph


class PhasePanel(Static, can_focus=True):
    DEFAULT_CSS = """
    PhasePanel { border: round $primary-darken-2; border-title-color: $text; height: auto;
                 max-height: 7; padding: 0 1; }
    PhasePanel:focus { border: round $accent; }
    """

    def on_mount(self) -> None:
        self.border_title = "Phases"

    def show(self, state: RunState, now: float | None = None) -> None:
        now = time.time() if now is None else now
        total: dict[str, int] = {}
        done: dict[str, int] = {}
        for t in state.tasks.values():
            total[t.phase] = total.get(t.phase, 0) + 1
            if t.status.terminal and t.status is not TaskStatus.BLOCKED:
                done[t.phase] = done.get(t.phase, 0) + 1
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, ratio=1)
        grid.add_column(no_wrap=True, justify="right")
        grid.add_column(no_wrap=True, justify="right")
        forecasting = bool(state.forecast) and state.finished_at is None
        if forecasting:  # the time left column, only while there is a forecast to show
            grid.add_column(no_wrap=True, justify="right")
        first = next(iter(state.phases), None)
        for p in state.phases.values():
            used = None
            if p.started_at is not None:
                used = (p.finished_at or now) - p.started_at
            box = (
                f"{format_duration(used)}/{format_duration(p.timebox)}"
                if p.timebox
                else (format_duration(used) if used is not None else "")
            )
            over = p.timebox is not None and used is not None and used > p.timebox
            left = seconds_left(state, now, p.id) if p.finished_at is None else None
            late = left is not None and p.timebox is not None and (used or 0) + left > p.timebox
            eta = Text(
                f"~{format_duration(left)}" if left is not None else "",
                style="red" if late else "dim",
            )
            name = Text(f"{status_glyph(p.status)} ", style=STATUS_STYLE.get(p.status, ""))
            name.append(safe(p.title or p.id), style="bold" if p.status == "running" else "")
            if p.held:
                name.append(" ⏸ paused", style="bold yellow")
            grid.add_row(
                name,
                f"{done.get(p.id, 0)}/{total.get(p.id, 0)}",
                Text(box, style="bold red" if over else ""),
                *([eta] if forecasting else []),
            )
            if p.id == first and state.research:  # asked as the first phase starts
                answers = sum(len(r["results"]) for r in state.research.values())
                failed = any(r["error"] for r in state.research.values())
                names = ", ".join(safe(r) for r in state.research)
                grid.add_row(
                    Text(f"  ◇ research {names}", style="dim"),
                    str(answers),
                    Text("error" if failed else "done", style="red" if failed else "dim"),
                )
            for g in state.gates.values():
                if g.after == p.id:
                    style = GATE_STYLE.get(g.status, "dim")
                    grid.add_row(
                        Text(f"  ◆ gate {safe(g.id)}", style=style),
                        f"{len(g.approved_by)}/{g.quorum}" if g.approval == "manual" else "auto",
                        Text(g.status, style=style),
                    )
        self.update(grid)
