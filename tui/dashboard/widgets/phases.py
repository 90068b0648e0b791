"""Phase panels: one line per phase with status, progress, timebox used and the forecast's time
left until it ends (`~3m`; `~3m!`, red, when the phase itself is forecast to run past its
timebox), or `paused` for a phase paused alone (`pause --phase`, a risk rule's `pause`), with a
line under it saying by whom and why.

The panel has room for LINES lines (at 80x24 as everywhere). When a plan has more phases and
gates than that, the phases that have ended first fold into one line ("✓ 3 phases  7/7  ended"),
so that the running phase and the ones after it stay in sight; what still does not fit ends
with a "… N more phases" line.

The research asked as the first phase starts is one line under it (its queries, the count of
answers, `error` if one failed); `enter` on the panel shows each query's answers or error."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

from phasegate.engine.client import paused_phases
from phasegate.engine.client.plans import counted_to, seconds_left, waiting_gate
from phasegate.engine.model.durations import format_budget, format_duration
from phasegate.engine.model.state import GateState, PhaseState, RunState
from phasegate.engine.model.statuses import TaskStatus
from phasegate.tui.dashboard.screens.research import ResearchScreen
from phasegate.tui.dashboard.widgets.style import GATE_STYLE, STATUS_STYLE, status_glyph
from phasegate.tui.text import one_line, safe

LINES = 5  # rows inside the panel's border (its max-height less 2)

Row = tuple[RenderableType, ...]


class PhasePanel(Static, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "research", "Research", id="phases.research"),  # (once it has some)
    ]
    DEFAULT_CSS = f"""
    PhasePanel {{ border: round $primary-darken-2; border-title-color: $text; height: auto;
                 max-height: {LINES + 2}; padding: 0 1; }}
    PhasePanel:focus {{ border: round $accent; }}
    """

    _research: dict[str, dict[str, Any]] | None = None  # (the run's, as last shown)
    _asked = False  # (the footer's `enter` follows it)

    def on_mount(self) -> None:
        self.border_title = "Phases"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._asked if action == "research" else True

    def action_research(self) -> None:
        """`enter`: each research query with its answers or its error."""
        if self._research:
            self.app.push_screen(ResearchScreen(self._research))

    def show(self, state: RunState, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if bool(state.research) != self._asked:  # (the footer offers `enter` once there is some)
            self._asked = bool(state.research)
            self.refresh_bindings()
        self._research = state.research
        total: dict[str, int] = {}
        done: dict[str, int] = {}
        for t in state.tasks.values():
            total[t.phase] = total.get(t.phase, 0) + 1
            if t.status.terminal and t.status is not TaskStatus.BLOCKED:
                done[t.phase] = done.get(t.phase, 0) + 1
        held = {p.id for p in paused_phases(state)}
        # counted down as the header counts (stopped while a manual gate waits for people)
        counted = counted_to(state, now, waiting_gate(state))
        # the last column: each phase's time left, or `paused` (never cut, as the name is)
        last_column = bool(state.forecast or held) and state.finished_at is None
        first = next(iter(state.phases), None)
        groups: list[tuple[PhaseState, list[Row]]] = []  # each phase with its rows
        before = 0.0  # when the phases before this one are forecast to end (seconds from now)
        for p in state.phases.values():
            rows: list[Row] = []
            groups.append((p, rows))
            used = None
            if p.started_at is not None and p.status != "pending":  # (pending: sent back)
                used = (p.finished_at or now) - p.started_at
            box = (
                f"{format_duration(used)}/{format_budget(p.timebox)}"
                if p.timebox
                else (format_duration(used) if used is not None else "")
            )
            over = p.timebox is not None and used is not None and used > p.timebox
            left = seconds_left(state, counted, p.id) if p.finished_at is None else None
            # late: its own length, as forecast, past its timebox: what it used and has left
            # (one not started yet starts as the phases before it end); `!` says so unstyled
            late = False
            if p.timebox is not None and left is not None:
                own = used + left if used is not None else left - before
                late = own > p.timebox
            eta = Text(
                f"~{format_duration(left)}{'!' if late else ''}" if left is not None else "",
                style=STATUS_STYLE.get("late", "") if late else "dim",
            )
            before = max(before, left or 0.0)
            if p.id in held:  # (its time left holds until it is resumed)
                eta = Text("paused", style=STATUS_STYLE.get("held", ""))
            name = Text(f"{status_glyph(p.status)} ", style=STATUS_STYLE.get(p.status, ""))
            title = " ".join((p.title or p.id).split())  # (a title of several lines: one row)
            name.append(safe(title), style="bold" if p.status == "running" else "")
            rows.append(
                (
                    name,
                    f"{done.get(p.id, 0)}/{total.get(p.id, 0)}",
                    Text(box, style="bold red" if over else ""),
                    *([eta] if last_column else []),
                )
            )
            if p.id in held:  # who paused it and why, and the key that resumes it
                why = f": {one_line(p.held_reason)}" if p.held_reason else ""
                rows.append(
                    (
                        Text(f"  ⏸ {one_line(p.held_by)}{why}", style="dim"),
                        Text("p resumes", style=STATUS_STYLE.get("held", "")),
                    )
                )
            if p.id == first and state.research:  # asked as the first phase starts
                answers = sum(len(r["results"]) for r in state.research.values())
                failed = any(r["error"] for r in state.research.values())
                names = ", ".join(safe(r) for r in state.research)
                rows.append(
                    (
                        Text(f"  ◇ research {names}", style="dim"),
                        str(answers),
                        Text("error" if failed else "done", style="red" if failed else "dim"),
                    )
                )
            for g in state.gates.values():
                if g.after == p.id:
                    rows.append((GateLine(g, state.finished_at is not None),))
        self.update(layout(fit(groups, done, total, LINES), 4 if last_column else 3))


def gate_label(g: GateState, run_ended: bool = False, short: bool = False) -> Text:
    """What a gate is at, in words a reader takes at once: `pending` until its phase ends
    (`not reached` once the run has ended without it, as `gates` and the reports say),
    `waiting for approval` (`short`: `waiting`) while it needs people (`not decided` once the
    run has ended first), then its outcome."""
    if g.status == "waiting":
        return Text("not reached" if run_ended else "pending", style="dim")
    if g.status == "open" and run_ended:  # (the run was stopped while it waited)
        return Text("not decided", style="dim")
    if g.status == "open":
        manual = "waiting" if short else "waiting for approval"
        word = manual if g.approval == "manual" else "checking"  # (auto)
        return Text(word, style=GATE_STYLE.get("open", ""))
    return Text(g.status.value, style=GATE_STYLE.get(g.status, "dim"))


class GateLine:
    """A gate's row in the panel, the whole width: its name first, then where it is (the
    approvals so far where a quorum of several makes them news), in long words where they fit
    beside the whole name, else short ones; a name that still does not fit is cut with an
    ellipsis. (Chosen as it is drawn: the panel's width is known only then.)"""

    def __init__(self, g: GateState, run_ended: bool) -> None:
        style = GATE_STYLE.get(g.status, "dim")
        self.name = Text(f"  ◆ gate {safe(g.id)}", style=style)
        count = f"{len(g.approved_by)}/{g.quorum} " if g.quorum > 1 else ""
        self.long = Text(count, style=style) + gate_label(g, run_ended)
        self.short = Text(count, style=style) + gate_label(g, run_ended, short=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        fits = self.name.cell_len + 1 + self.long.cell_len <= options.max_width
        line = Table.grid(padding=(0, 1), expand=True)
        line.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        line.add_column(no_wrap=True, justify="right")
        line.add_row(self.name, self.long if fits else self.short)
        yield line


def layout(rows: list[Row], columns: int) -> RenderableType:
    """Phase rows in aligned columns; a row of one cell (a gate's) or two (a note under a
    phase) spans the width, its first cell cut with an ellipsis before the other is."""
    widths = [0] * columns
    for row in rows:
        if len(row) > 2:
            for i, cell in enumerate(row[1:], 1):
                widths[i] = max(
                    widths[i], cell.cell_len if isinstance(cell, Text) else len(str(cell))
                )
    parts: list[RenderableType] = []
    grid: Table | None = None
    for row in rows:
        if len(row) == 1:
            grid = None
            parts.append(row[0])
            continue
        if len(row) == 2:
            grid = None
            line = Table.grid(padding=(0, 1), expand=True)
            line.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
            line.add_column(no_wrap=True, justify="right")
            line.add_row(*row)
            parts.append(line)
            continue
        if grid is None:
            grid = Table.grid(padding=(0, 1), expand=True)
            grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
            for w in widths[1:]:
                grid.add_column(no_wrap=True, justify="right", width=max(w, 1))
            parts.append(grid)
        grid.add_row(*row, *([""] * (columns - len(row))))
    return Group(*parts)


def fit(
    groups: list[tuple[PhaseState, list[Row]]],
    done: dict[str, int],
    total: dict[str, int],
    lines: int,
) -> list[Row]:
    """The rows that fit in `lines`: the earliest ended phases folded into one line if need be
    (as few as will do), then a "… N more" line for what is still left over."""
    count = sum(len(rows) for _, rows in groups)
    ended = 0
    while ended < len(groups) and groups[ended][0].finished_at is not None:
        ended += 1
    fold = 0
    if count > lines and ended >= 2:
        fold = ended
        for k in range(2, ended + 1):  # the fewest phases whose folding makes it fit
            if 1 + sum(len(rows) for _, rows in groups[k:]) <= lines:
                fold = k
                break
    out: list[Row] = []
    if fold:
        folded = [p for p, _ in groups[:fold]]
        bad = next((p.status for p in folded if p.status != "succeeded"), "succeeded")
        name = Text(f"{status_glyph(bad)} ", style=STATUS_STYLE.get(bad, ""))
        name.append(f"{fold} phases", style="dim")
        finished = sum(done.get(p.id, 0) for p in folded)
        counts = f"{finished}/{sum(total.get(p.id, 0) for p in folded)}"
        out.append((name, counts, Text("ended", style="dim")))
    rest = [(p, row) for p, rows in groups[fold:] for row in rows]
    if len(out) + len(rest) <= lines:
        return out + [row for _, row in rest]
    keep = rest[: lines - len(out) - 1]
    hidden = len({p.id for p, _ in rest} - {p.id for p, _ in keep})
    left = f"{hidden} more phase{'s' if hidden != 1 else ''}" if hidden else "more"
    more = Text(f"… {left}", style="dim")
    return out + [row for _, row in keep] + [(more, "", "")]
