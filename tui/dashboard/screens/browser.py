"""`phasegate ui`: past and active runs; enter opens one (its final state replays)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from phasegate.engine.client import SQLiteStore
from phasegate.engine.model.durations import format_duration
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, counts_glyphs
from phasegate.tui.text import safe, when


class BrowserScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="browser.help"),
        Binding("j", "down", "Down", show=False, id="browser.down"),
        Binding("k", "up", "Up", show=False, id="browser.up"),
        Binding("q", "app.quit", "Quit", id="browser.quit"),
    ]
    DEFAULT_CSS = """
    BrowserScreen #title { height: 1; background: $panel; padding: 0 1; }
    BrowserScreen DataTable { height: 1fr; }
    """

    def __init__(self, store: SQLiteStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Static("phasegate · runs (enter opens one)", id="title")
        yield DataTable(cursor_type="row", id="runs")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name, width in (
            # 65 columns of cells + 12 of padding: every column whole at 80x24
            ("run", 8),
            ("plan", 18),
            ("status", 11),
            ("started", 11),
            ("took", 6),
            ("tasks", 11),
        ):
            table.add_column(name.upper(), width=width, key=name)
        await self.load()
        self.set_interval(2.0, self.load)
        table.focus()

    async def load(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        rows = await self.store.list_runs(500)
        table.clear()
        for r in rows:
            table.add_row(
                r.id,
                Text(safe(r.plan_name), no_wrap=True, overflow="ellipsis"),
                Text(r.status, style=STATUS_STYLE.get(r.status, "")),
                when(r.started_at or r.created_at, short=True),
                format_duration(r.duration),
                counts_glyphs(r.counts),
                key=r.id,
            )
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))
        else:
            self.query_one("#title", Static).update(
                "phasegate · no runs yet: start one with `phasegate run PLAN`"
            )

    @on(DataTable.RowSelected, "#runs")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            feed = RunFeed(self.store, event.row_key.value, self.clock)
            self.app.push_screen(DashboardScreen(feed, browse_back=True))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()
