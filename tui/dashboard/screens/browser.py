"""`phasegate ui`: past and active runs, filtered and sorted; enter opens one (its final state
replays), esc there comes back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from phasegate.engine.client import RunRow, SQLiteStore
from phasegate.engine.client import shown_status as _status  # (as `phasegate runs` says it)
from phasegate.engine.model.durations import format_duration
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.help import BROWSER_KEYS, HelpScreen
from phasegate.tui.dashboard.widgets.footer import SteadyFooter
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, counts_glyphs
from phasegate.tui.text import cells, safe, when

# the browser's commands in the palette (ctrl+p), offered by the app, listed by `?`:
# (name shown in the palette, what it does, the BrowserScreen action it runs)
BROWSER_COMMANDS: list[tuple[str, str, str]] = [
    ("Filter runs", "Filter by run id, plan, status or user", "filter"),
    ("Sort runs", "Cycle the run order", "sort"),
]

SORTS = ("newest", "plan", "status", "duration")
# the columns at 80x24: 65 columns of cells + 12 of padding, every column whole
COLUMNS = (("run", 8), ("plan", 18), ("status", 11), ("started", 11), ("took", 6), ("tasks", 11))
PLAN_LEAST = 8  # the plan's name narrows to this (with an ellipsis) on a narrow terminal,
_DROP = ("tasks", "took", "started")  # then these are left out, in this order (60 columns)
_AT = {name: i for i, (name, _) in enumerate(COLUMNS)}


def columns(room: int, longest: int) -> tuple[tuple[str, int], ...]:
    """The columns that fit `room` columns (each cell has a space either side), with no
    scrolling sideways: the plan's name as long as the longest (`longest`) where there is room,
    narrowed first where there is not, then the counts, the time taken and the start left out.
    The run's id and status stay."""
    shown = list(COLUMNS)
    dropped = iter(_DROP)
    while True:
        rest = sum(w + 2 for name, w in shown if name != "plan") + 2
        if rest + PLAN_LEAST <= room or len(shown) == len(COLUMNS) - len(_DROP):
            break
        gone = next(dropped)
        shown = [c for c in shown if c[0] != gone]
    plan = max(PLAN_LEAST, min(room - rest, max(longest, _width("plan"))))
    return tuple((name, plan if name == "plan" else w) for name, w in shown)


def _width(name: str) -> int:
    return COLUMNS[_AT[name]][1]


# what needs a look first: going, then gone wrong, then the rest
_STATUS_ORDER = {
    "running": 0,
    "paused": 1,
    "interrupted": 2,
    "failed": 3,
    "pending": 4,
    "cancelled": 5,
    "succeeded": 6,
}


def _ordered(runs: list[RunRow], sort: str) -> list[RunRow]:
    """`runs` (newest first, as the store lists them) in the order `sort` names; ties keep the
    newest first."""
    if sort == "plan":
        return sorted(runs, key=lambda r: r.plan_name.lower())
    if sort == "status":
        return sorted(runs, key=lambda r: _STATUS_ORDER.get(_status(r), 9))
    if sort == "duration":
        return sorted(runs, key=lambda r: -(r.duration or 0.0))
    return list(runs)


def _matches(run: RunRow, needle: str) -> bool:
    fields = (run.id, run.plan_name, _status(run), run.user)
    return any(needle in field.lower() for field in fields)


class RunTable(DataTable[object]):
    """The list of runs: Home and End move the cursor (a DataTable's scroll sideways, which left
    the cursor, and enter then opened the run it had been left on)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First run", show=False, id="runs.first"),
        Binding("end", "scroll_bottom", "Last run", show=False, id="runs.last"),
        Binding("j", "cursor_down", "Down", show=False, id="runs.down"),
        Binding("k", "cursor_up", "Up", show=False, id="runs.up"),
    ]


class BrowserScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="browser.help"),
        Binding("slash", "filter", "Find", id="browser.filter", priority=True),
        Binding("o", "sort", "Sort", id="browser.sort"),
        Binding("q", "app.quit", "Quit", id="browser.quit"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="browser.escape"),
    ]
    DEFAULT_CSS = """
    BrowserScreen #title { height: 1; background: $panel; padding: 0 1; }
    BrowserScreen DataTable { height: 1fr; }
    BrowserScreen #filter { dock: bottom; display: none; }
    BrowserScreen #filter.visible { display: block; }
    """

    def __init__(self, store: SQLiteStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.runs: list[RunRow] = []  # as last read, newest first
        self.sort_key = SORTS[0]
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Static("phasegate · runs (enter opens one)", id="title")
        yield RunTable(cursor_type="row", id="runs")
        yield Input(placeholder="filter runs: id, plan, status or user", id="filter")
        yield SteadyFooter(compact=True)

    async def on_mount(self) -> None:
        table = self.query_one(RunTable)
        await self.load()
        self.set_interval(2.0, self.load)
        table.focus()

    async def load(self) -> None:
        self.runs = await self.store.list_runs(500)
        self.show()

    def on_resize(self) -> None:
        """Narrower or wider: the columns laid out again to fit (once the runs are read)."""
        if self._columns and self._layout() != self._columns:
            self.show()

    _columns: tuple[tuple[str, int], ...] = ()

    def _layout(self) -> tuple[tuple[str, int], ...]:
        """The columns at this width (the screen's, less a long list's scrollbar: 80 columns
        before it is known)."""
        longest = max((cells(safe(r.plan_name)) for r in self.runs), default=0)
        return columns((self.size.width or 80) - 2, longest)

    def show(self) -> None:
        """Lay the rows out again (new runs read, or the filter or the sort changed), the cursor
        kept on the run it was on: by id, as runs come and go and the order changes."""
        table = self.query_one(RunTable)
        keep = self._under_cursor()
        needle = self.filter_text.lower()
        shown = _ordered([r for r in self.runs if _matches(r, needle)], self.sort_key)
        layout = self._layout()
        if layout != self._columns:  # (the width changed, or the names: laid out anew)
            table.clear(columns=True)
            for name, width in layout:
                table.add_column(name.upper(), width=width, key=name)
            self._columns = layout
        else:
            table.clear()
        for r in shown:
            made = (
                r.id,
                Text(safe(r.plan_name), no_wrap=True, overflow="ellipsis"),
                Text(_status(r), style=STATUS_STYLE.get(_status(r), "")),
                when(r.started_at or r.created_at, short=True),
                format_duration(r.duration),
                counts_glyphs(r.counts),
            )
            table.add_row(*(made[_AT[name]] for name, _ in layout), key=r.id)
        ids = [r.id for r in shown]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        self._title(bool(shown))

    def _under_cursor(self) -> str | None:
        table = self.query_one(RunTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def _title(self, any_shown: bool) -> None:
        title = self.query_one("#title", Static)
        if not self.runs:
            title.update("phasegate · no runs yet: start one with `phasegate run PLAN`")
            return
        typed = safe(self.filter_text)
        if not any_shown:  # (first: a narrow terminal cuts the title's end)
            parts = [f"phasegate · no run matches: {typed} (esc clears)"]
        elif self.filter_text:
            parts = ["phasegate · runs", f"filter: {typed}"]
        else:
            parts = ["phasegate · runs (enter opens one)"]
        parts.append(f"sort: {self.sort_key}")
        title.update(Text(" · ".join(parts)))  # (as typed: a filter may hold `[`)

    @on(DataTable.RowSelected, "#runs")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            feed = RunFeed(self.store, event.row_key.value, self.clock)
            self.app.push_screen(DashboardScreen(feed, browse_back=True))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(BROWSER_KEYS, BROWSER_COMMANDS))

    def action_sort(self) -> None:
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        self.show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`/` is a priority key (the box has the keys typed after it in one burst, a paste or
        a fast typist: the widget that had them queued lost them), and text in the box."""
        if action == "filter":
            return self.focused is not self.query_one("#filter", Input)
        return True

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.value = self.filter_text
        self.set_focus(box)  # (at once: the keys typed right after `/` are the filter's)

    @on(Input.Changed, "#filter")
    def _filter_live(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.show()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        self.query_one(RunTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("visible")
        box.value = ""  # (Input.Changed shows every run again)
        self.filter_text = ""
        self.show()
        self.query_one(RunTable).focus()
