"""The task table: id (and its priority when it has one: `build ↑2`), phase, agent, status,
attempts, duration, test results (`12✓ 1✗ 3⤼`); filter, sort, follow running."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey

from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.state import RunState, TaskState
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE, status_glyph
from phasegate.tui.text import cells, safe

# (at 80x24 the table has 78 columns: these, a space each side of every cell, and 2 for the
# scrollbar of a long run; the tests' column only once a task has results, and the room it
# leaves goes to the task's id, up to its longest)
COLUMNS = (
    ("task", 14),
    ("phase", 8),
    ("agent", 8),
    ("status", 11),
    ("try", 3),
    ("time", 7),
    ("tests", 10),
)
SORTS = ("plan", "status", "duration", "phase", "agent")
_STATUS_ORDER = {
    "running": 0,
    "failed": 1,
    "timed_out": 2,
    "blocked": 3,
    "ready": 4,
    "pending": 5,
    "cancelled": 6,
    "skipped": 7,
    "succeeded": 8,
}


# the columns that narrow on a narrow terminal, in this order, and how far
_NARROW = (("agent", 5), ("phase", 5), ("tests", 6), ("task", 8))
# and those then left out whole, in this order, on a terminal narrower still (40 columns):
# the id, the status and the time stay, with no scrolling sideways
_DROP = ("try", "agent", "phase", "tests")
_AT = {name: i for i, (name, _) in enumerate(COLUMNS)}
# a filter typed: applied at once, then at most this often while the keys come faster (seconds)
_TYPED_EVERY = 0.1


def _narrowed(shown: list[tuple[str, int]], over: int) -> tuple[tuple[str, int], ...]:
    widths = dict(shown)
    for name, least in _NARROW:
        if name in widths and over > 0:
            cut = min(over, widths[name] - least)
            widths[name] -= cut
            over -= cut
    for name in _DROP:
        if name in widths and over > 0:
            over -= widths.pop(name) + 2
    if over < 0:  # (a column left out made more room than was missing: the id takes it back)
        widths["task"] += min(-over, COLUMNS[0][1] - widths["task"])
    return tuple((n, widths[n]) for n, _ in shown if n in widths)


class TaskTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="tasks.down"),
        Binding("k", "cursor_up", "Up", show=False, id="tasks.up"),
        # (a DataTable's Home and End scroll sideways, and the cursor stays: here they move it)
        Binding("home", "scroll_top", "First task", show=False, id="tasks.first"),
        Binding("end", "scroll_bottom", "Last task", show=False, id="tasks.last"),
        # (`f`, following the running task, is the dashboard's: its footer shows it)
    ]
    DEFAULT_CSS = """
    TaskTable { border: round $primary-darken-2; height: 1fr; }
    TaskTable:focus { border: round $accent; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)  # type: ignore[arg-type]
        self.clock = clock
        self.filter_text = ""
        self.sort_key = "plan"
        self.follow = False
        self._shown: list[str] = []
        self._known: frozenset[str] = frozenset()  # the run's tasks when last laid out
        self._state: RunState | None = None
        self._columns: tuple[tuple[str, int], ...] = ()
        self._tested = False  # a task has test results: the tests' column is shown
        self._typed = ""  # the filter as typed, applied within _TYPED_EVERY
        self._typing: Timer | None = None  # while set, a filter was applied in _TYPED_EVERY

    def on_mount(self) -> None:
        self._lay_columns(COLUMNS)
        self._title()

    def on_resize(self) -> None:
        if self._state is not None and self._layout(self._state) != self._columns:
            self.rebuild(self._state)

    def _lay_columns(self, columns: tuple[tuple[str, int], ...]) -> None:
        self.clear(columns=True)
        for name, width in columns:
            self.add_column(name.upper(), width=width, key=name)
        self._columns = columns

    def _layout(self, state: RunState) -> tuple[tuple[str, int], ...]:
        """The columns for this run at this width: the tests' only once a task has results;
        the task's id as wide as the longest, in the room the others leave."""
        self._tested = self._tested or any(t.results for t in state.tasks.values())
        shown = [c for c in COLUMNS if c[0] != "tests" or self._tested]
        inner = self.scrollable_content_region.width or 78
        spare = inner - sum(w + 2 for _, w in shown) - 2  # (2: a long run's scrollbar)
        if spare < 0:  # a narrow terminal: names give way (with an ellipsis), times never
            return _narrowed(shown, -spare)
        longest = max(
            (cells(safe(t.id)) + len(priority_mark(t.priority)) for t in state.tasks.values()),
            default=0,
        )
        task = COLUMNS[0][1] + max(0, min(spare, longest - COLUMNS[0][1]))
        return tuple((n, task if n == "task" else w) for n, w in shown)

    def _title(self) -> None:
        parts = ["Tasks", f"sort: {self.sort_key}"]
        if self.filter_text:
            parts.append(f"filter: {safe(self.filter_text)}")
        if self.follow:
            parts.append("following")
        self.border_title = Content(" · ".join(parts))  # (as typed: a filter may hold `[`)

    @property
    def selected(self) -> str | None:
        if not self._shown or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row]

    def _cells(self, t: TaskState, now: float) -> list[Text]:
        if t.started_at is None:
            took = None
        elif t.finished_at is None and t.status != "running":
            took = None  # (sent back to run again by a rewind or a take-over: as `show`, none)
        elif t.finished_at is None:  # running: this attempt's time (a retry starts anew)
            took = now - (t.attempt_started_at or t.started_at)
        else:  # ended: its newest attempt's time, as while it ran (and as `show`, reports)
            took = t.duration
        style = STATUS_STYLE.get(t.status.value, "")
        return [
            self._id_cell(t),
            Text(safe(t.phase), no_wrap=True, overflow="ellipsis"),
            Text(safe(t.agent or "-"), no_wrap=True, overflow="ellipsis"),
            Text(f"{status_glyph(t.status.value)} {t.status.value}", style=style, no_wrap=True),
            Text(str(t.attempts or "-"), justify="right"),
            Text(format_duration(took) if took is not None else "-", justify="right"),
            tests_cell(t.results),
        ]

    def _id_cell(self, t: TaskState) -> Text:
        """The task's id, and its priority beside it when it has one (`build ↑2`): the id
        gives way to it, with an ellipsis, in a narrow column."""
        mark = priority_mark(t.priority)
        name = Text(safe(t.id), no_wrap=True, overflow="ellipsis")
        if mark:
            room = dict(self._columns).get("task", COLUMNS[0][1]) - len(mark)
            if name.cell_len > room:
                name.truncate(max(room, 1), overflow="ellipsis")
            name.append(mark, style=STATUS_STYLE.get("priority", ""))
        return name

    def _row(self, t: TaskState, now: float) -> list[Text]:
        """The cells of the columns shown (the tests' only once shown, some left out on a narrow
        terminal)."""
        made = self._cells(t, now)
        return [made[_AT[name]] for name, _ in self._columns]

    def _visible(self, state: RunState) -> list[str]:
        needle = self.filter_text.lower()
        tasks = [
            t
            for t in state.tasks.values()
            if not needle
            or needle in t.id.lower()
            or needle in t.phase.lower()
            or needle in (t.agent or "").lower()
            or needle in t.status.value
        ]
        if self.sort_key == "status":
            tasks.sort(key=lambda t: _STATUS_ORDER.get(t.status.value, 9))
        elif self.sort_key == "duration":
            tasks.sort(key=lambda t: -(t.duration or 0.0))
        elif self.sort_key == "phase":  # the plan's order of phases (not their names')
            order = {phase: i for i, phase in enumerate(state.phases)}
            tasks.sort(key=lambda t: order.get(t.phase, len(order)))
        elif self.sort_key == "agent":  # (a task no agent took yet, `-`, after the others)
            tasks.sort(key=lambda t: (not t.agent, t.agent or ""))
        return [t.id for t in tasks]

    def rebuild(self, state: RunState, now: float | None = None) -> None:
        """Lay the rows out again, every cell anew (a new run, new columns, a new filter)."""
        now = self.clock() if now is None else now
        keep = self.selected
        self._state = state
        self._known = frozenset(state.tasks)
        layout = self._layout(state)
        if layout != self._columns:
            self._lay_columns(layout)
        else:
            self.clear()
        self._shown = self._visible(state)
        for tid in self._shown:
            self.add_row(*self._row(state.tasks[tid], now), key=tid)
        self._unmeasured()
        if keep in self._shown:
            self.move_cursor(row=self._shown.index(keep))
        self._title()

    def _arrange(self, state: RunState, changed: set[str], now: float, stay: bool) -> None:
        """Bring the rows in line with the run, the filter and the sort, at the cost of what
        changed: the cells of the tasks that changed updated in place, the few rows the filter
        takes in or out added or removed, the rows reordered only if their order changed. The
        cursor stays on its task; `stay`: the view too (a live refresh never scrolls it)."""
        keep, scrolled = self.selected, self.scroll_y
        shown = self._visible(state)
        now_in, was_in = set(shown), set(self._shown)
        for tid in changed & now_in & was_in:
            for (name, _), cell in zip(
                self._columns, self._row(state.tasks[tid], now), strict=True
            ):
                self.update_cell(tid, name, cell)
        self._drop_rows(was_in - now_in)
        order = [tid for tid in self._shown if tid in now_in]
        for tid in shown:
            if tid not in was_in:
                self.add_row(*self._row(state.tasks[tid], now), key=tid)
                order.append(tid)
        self._unmeasured()
        if order != shown:  # (the rows' cells, by identity, say which task each row is)
            place = {id(self.get_cell(tid, "task")): i for i, tid in enumerate(shown)}
            self.sort("task", key=lambda cell: place[id(cell)])
        self._shown = shown
        self._state = state
        if keep in now_in and shown.index(keep) != self.cursor_row:
            self.move_cursor(row=shown.index(keep), scroll=not stay)
            if stay:  # (the cursor's move scrolls to it, now or once laid out: back again)
                self.scroll_to(y=scrolled, animate=False, immediate=True)
                self.call_after_refresh(self.scroll_to, y=scrolled, animate=False, immediate=True)
        self._title()

    def _unmeasured(self) -> None:
        """The rows just added need no measuring: every column has its width, every row one
        line. (DataTable measures every cell of each new row at its next idle, to widen a column
        sized to its content, 0.1 ms a row: most of the time a filter's widening took, or the
        laying out of a big run; and it would change nothing here. Textual 8's internals, as
        _drop_rows.)"""
        self._new_rows.clear()

    def _drop_rows(self, gone: set[str]) -> None:
        """Take these rows out, all at once: what DataTable.remove_row does for one, done once
        for them all. (remove_row renumbers every row at each removal: a filter's first letter
        on a run of 3,000 tasks, 1,800 rows out, took seconds, and the table was laid out
        anew instead, every row measured again. This rests on DataTable's internals, as of
        Textual 8; tests/tui/test_filter_in_place.py holds it.)"""
        if not gone:
            return
        for tid in gone:
            key = RowKey(tid)
            del self.rows[key]
            for column in self._data.pop(key):
                self._updated_cells.discard(CellKey(key, column))
        where = self._row_locations
        left = sorted(self._data, key=lambda key: where.get(key) or 0)
        self._row_locations = TwoWayDict({key: i for i, key in enumerate(left)})
        self._require_update_dimensions = True  # (the table's height, at its next idle)
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate  # (kept within the rows left)
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

    def refresh_tasks(
        self, state: RunState, changed: Iterable[str], now: float | None = None
    ) -> None:
        """Update the cells of the tasks that changed, and the order if it must change; the
        view stays where the user put it. Laid out anew only for new columns or new tasks."""
        now = self.clock() if now is None else now
        changed = set(changed)
        # (the first test results show the tests' column: the table is laid out again)
        results = not self._tested and any(
            state.tasks[t].results for t in changed if t in state.tasks
        )
        if results or state.tasks.keys() != self._known:  # (or an amendment's tasks)
            self.rebuild(state, now)
        elif changed:
            self._arrange(state, changed, now, stay=True)
        self._state = state
        self._follow_running()

    def _follow_running(self) -> None:
        if not self.follow or self._state is None:
            return
        tasks = self._state.tasks
        running = [i for i, tid in enumerate(self._shown) if tasks[tid].status.value == "running"]
        if running and self.cursor_row not in running:
            self.move_cursor(row=running[0])

    def tick(self, state: RunState, now: float | None = None) -> None:
        """Advance the clocks of running tasks (once a second)."""
        now = self.clock() if now is None else now
        for tid in self._shown:
            t = state.tasks.get(tid)  # (an amendment may have taken it out: laid out anew soon)
            if t is not None and t.status.value == "running":
                self.update_cell(tid, "time", self._cells(t, now)[_AT["time"]])

    def cycle_sort(self, state: RunState) -> None:
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        if self._state is None or state.tasks.keys() != self._known:
            self.rebuild(state)
        else:  # (the same rows in another order: reordered, the cursor's task kept in view)
            self._arrange(state, set(), self.clock(), stay=False)

    def set_filter(self, text: str, state: RunState, typed: bool = False) -> None:
        """Show the tasks matching `text` (its id, phase, agent or status), at the cost of what
        changes: a longer filter takes rows out, a shorter one adds back those missing, in
        their place; the cursor stays on its task while it matches (else on the first).
        `typed`: a key in the filter's box, applied at once, then at most every 0.1 s while
        keys come faster (the text typed last always applied: a timer applies it)."""
        self._typed = text.strip()
        if typed and self._typing is not None:  # (one applied just now: this one at the timer)
            return
        if self._typing is not None:  # (`enter` or `esc`: now, and no timer after)
            self._typing.stop()
            self._typing = None
        self._apply_filter(state)
        if typed:
            self._typing = self.set_timer(_TYPED_EVERY, self._typed_due)

    def _typed_due(self) -> None:
        self._typing = None
        if self._typed != self.filter_text and self._state is not None:
            self._apply_filter(self._state)
            self._typing = self.set_timer(_TYPED_EVERY, self._typed_due)

    def _apply_filter(self, state: RunState) -> None:
        self.filter_text = self._typed
        if self._state is None or state.tasks.keys() != self._known:
            self.rebuild(state)
            return
        keep = self.selected
        self._arrange(state, set(), self.clock(), stay=False)
        if keep not in self._shown and self._shown:  # (its task filtered out: the first one)
            self.move_cursor(row=0)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self._title()
        self._follow_running()


def priority_mark(priority: int) -> str:
    """` ↑2` (` ↓1`) beside a task's id: its priority, above (below) the default 0, as the plan,
    `+`/`-` or `phasegate priority` set it (higher starts first); nothing at 0. (Not `+2`: the
    agents' roster says `build +2` for two more tasks.)"""
    return f" {'↑' if priority > 0 else '↓'}{abs(priority)}" if priority else ""


def tests_cell(results: dict[str, object]) -> Text:
    """`1107✓ 2✗ 12⤼`: passed, failed (errors too), skipped when it fits; `?` when the task
    declared results and none could be read."""
    if not results:
        return Text("")
    if not results.get("source"):
        return Text("?", style="yellow")
    passed, skipped = int(str(results.get("passed", 0))), int(str(results.get("skipped", 0)))
    failed = int(str(results.get("failed", 0))) + int(str(results.get("errors", 0)))
    cell = Text(no_wrap=True, overflow="ellipsis")
    cell.append(f"{passed}✓", style="green")
    cell.append(f" {failed}✗", style="bold red" if failed else "")
    if skipped and cell.cell_len + len(f" {skipped}⤼") <= COLUMNS[-1][1]:
        cell.append(f" {skipped}⤼", style="dim")
    return cell
