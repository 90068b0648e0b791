"""One task: its details and its output, following while it runs; `/` searches the output."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input, Log, Static

from engine.durations import format_duration

from ..feed import RunFeed
from ..text import safe
from ..widgets.style import STATUS_STYLE

KEEP_LINES = 10_000  # lines of output held in memory by the pane
POLL = 0.1


class TaskScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="task.back"),
        Binding("slash", "search", "Search", id="task.search"),
        Binding("n", "clear_search", "Clear search", show=False, id="task.clear"),
        Binding("j", "scroll_down", "Down", show=False, id="task.down"),
        Binding("k", "scroll_up", "Up", show=False, id="task.up"),
        Binding("q", "back", "Back", show=False, id="task.quit"),
    ]
    DEFAULT_CSS = """
    TaskScreen #details { height: auto; max-height: 6; padding: 0 1; background: $panel; }
    TaskScreen Log { border: round $primary-darken-2; height: 1fr; }
    TaskScreen #search { dock: bottom; display: none; }
    TaskScreen #search.visible { display: block; }
    """

    def __init__(self, feed: RunFeed, task: str) -> None:
        super().__init__()
        self.feed = feed
        self.task_id = task
        self._cursor = 0
        self._attempt = 0
        self._lines: deque[str] = deque(maxlen=KEEP_LINES)
        self._search = ""
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Static(id="details")
        yield Log(max_lines=KEEP_LINES, highlight=False, auto_scroll=True, id="log")
        yield Input(placeholder="search the output", id="search")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        self.query_one(Log).border_title = f"Output of {safe(self.task_id)}"
        await self._read()
        self.set_interval(POLL, self._read)

    def _details(self) -> None:
        t = self.feed.state.tasks.get(self.task_id)
        if t is None:
            return
        line = Text()
        line.append(safe(t.id), style="bold")
        line.append(f"  phase {safe(t.phase)}  agent {safe(t.agent or '-')}  ")
        line.append(t.status.value, style=STATUS_STYLE.get(t.status.value, ""))
        line.append(f"  attempt {t.attempts}  {format_duration(t.duration)}")
        if t.exit_code is not None:
            line.append(f"  exit {t.exit_code}")
        if t.needs:
            line.append(f"\nneeds {safe(', '.join(t.needs))}")
        if t.reason:
            line.append(f"\n{safe(t.reason)}", style="yellow")
        if t.dropped:
            line.append(f"\n{t.dropped} earlier lines dropped by the output cap", style="dim")
        self.query_one("#details", Static).update(line)

    async def _read(self) -> None:
        if self._reading:
            return
        self._reading = True
        try:
            rows = await self.feed.store.tail_output(self.feed.run_id, self._cursor, self.task_id)
        finally:
            self._reading = False
        self._details()
        if not rows:
            return
        self._cursor = rows[-1][0]
        fresh = []
        for _, line in rows:
            if line.attempt != self._attempt:
                self._attempt = line.attempt
                fresh.append(f"── attempt {line.attempt} ──")
            fresh.append(safe(line.text) if line.stream == "out" else f"[err] {safe(line.text)}")
        self._lines.extend(fresh)
        shown = [x for x in fresh if self._search in x] if self._search else fresh
        if shown:
            self.query_one(Log).write_lines(shown)

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("visible"):
            box.remove_class("visible")
            self.query_one(Log).focus()
            return
        self.app.pop_screen()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        self._search = event.value
        event.input.remove_class("visible")
        log = self.query_one(Log)
        log.clear()
        log.write_lines([x for x in self._lines if self._search in x])
        log.border_title = f"Output of {safe(self.task_id)}" + (
            f" · matching {safe(self._search)!r} (n: all lines)" if self._search else ""
        )
        log.focus()

    def action_clear_search(self) -> None:
        self._search = ""
        log = self.query_one(Log)
        log.clear()
        log.write_lines(list(self._lines))
        log.border_title = f"Output of {safe(self.task_id)}"

    def action_scroll_down(self) -> None:
        self.query_one(Log).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one(Log).scroll_up()
