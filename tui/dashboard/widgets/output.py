"""A task's output: streamed from the store, following; bounded memory; a search filter; long
lines scroll sideways (left, right) or wrap (`w`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Log

from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import safe

KEEP_LINES = 10_000  # lines held in memory
MIN_WRAP = 10  # a pane narrower than this is not wrapped (it is not laid out yet)


class OutputLog(Log):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "sideways(-1)", "Left", show=False, id="output.left"),
        Binding("right", "sideways(1)", "Right", show=False, id="output.right"),
    ]
    DEFAULT_CSS = """
    OutputLog { border: round $primary-darken-2; height: 1fr; }
    OutputLog:focus { border: round $accent; }
    """

    def __init__(self, feed: RunFeed, task: str | None = None, **kw: object) -> None:
        super().__init__(max_lines=KEEP_LINES, highlight=False, auto_scroll=True, **kw)  # type: ignore[arg-type]
        self.feed = feed
        self.task_id = task
        self.search = ""
        self._after = (0, 0)
        self._attempt = 0
        self._kept: deque[str] = deque(maxlen=KEEP_LINES)
        self._reading = False
        self.wrap = False  # long lines cut into the pane's width instead of scrolling sideways

    def on_mount(self) -> None:
        self._title()

    def _title(self) -> None:
        title = f"Output of {safe(self.task_id)}" if self.task_id else "Output"
        if self.search:
            title += f" · matching {safe(self.search)!r} (n: all lines)"
        if self.wrap:
            title += " · wrapped"
        self.border_title = Content(title)  # (as typed: a search may hold `[`)

    def follow(self, task: str | None) -> None:
        """Show this task's output from its first line."""
        if task == self.task_id:
            return
        self.task_id = task
        self._attempt = 0
        self._after = (0, 0)
        self._kept.clear()
        self.clear()
        self._title()

    async def poll(self) -> None:
        """Read the lines written since the last poll and show them."""
        if self._reading or self.task_id is None:
            return
        self._reading = True
        task = self.task_id
        try:
            rows = await self.feed.store.tail_task_output(self.feed.run_id, task, self._after)
        finally:
            self._reading = False
        if not rows or task != self.task_id:
            return
        self._after = (rows[-1].attempt, rows[-1].line)
        fresh = []
        for line in rows:
            if line.attempt != self._attempt:
                self._attempt = line.attempt
                fresh.append(f"── attempt {line.attempt} ──")
            fresh.append(safe(line.text) if line.stream == "out" else f"[err] {safe(line.text)}")
        self._kept.extend(fresh)
        shown = [x for x in fresh if self.search in x] if self.search else fresh
        if shown:
            self.write_lines(self._fold(shown))

    def set_search(self, text: str) -> None:
        self.search = text
        self._redraw()

    def action_sideways(self, direction: int) -> None:
        """Scroll long lines by a quarter of the pane (at least 8 columns)."""
        step = max(8, self.scrollable_content_region.width // 4)
        self.scroll_relative(x=direction * step, animate=False)

    def toggle_wrap(self) -> None:
        """Wrap long lines into the pane's width, or show them whole (scrolled sideways)."""
        self.wrap = not self.wrap
        self._redraw()

    def _redraw(self) -> None:
        text = self.search
        self.clear()
        self.write_lines(self._fold([x for x in self._kept if text in x] if text else self._kept))
        self._title()

    def _fold(self, lines: Iterable[str]) -> list[str]:
        width = self.scrollable_content_region.width
        if not self.wrap or width < MIN_WRAP:
            return list(lines)
        folded = []
        for line in lines:
            folded += [line[i : i + width] for i in range(0, len(line), width)] or [""]
        return folded
