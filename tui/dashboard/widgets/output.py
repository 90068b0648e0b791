"""A task's output: its newest lines from the store, then following; bounded memory (a window of
the last KEEP_LINES lines, the earlier ones counted); a search filter; long lines scroll sideways
(left, right) or wrap (`w`). At the end of the output, the view follows it (through a new search,
a wrap, a resize); scrolled up, it stays; `end` follows again."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import chain, islice
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Log

from phasegate.engine.client import db_flag
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import quoted, safe

KEEP_LINES = 10_000  # lines held in memory
MIN_WRAP = 10  # a pane narrower than this is not wrapped (it is not laid out yet)
ATTEMPT = "── attempt "  # the line that starts each attempt's output (not one of its lines)


class OutputLog(Log):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "sideways(-1)", "Left", show=False, id="output.left"),
        Binding("right", "sideways(1)", "Right", show=False, id="output.right"),
        Binding("end", "follow_end", "End", show=False, id="output.end"),
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
        self._earlier = 0  # the task's lines before the window: in the store, not held here
        self._reading = False
        self.wrap = False  # long lines cut into the pane's width instead of scrolling sideways
        self._folded_at: int | None = None  # the width the shown lines were cut to (None: whole)
        self._at_end = True  # where the view was last moved to: the end (new lines follow)

    def on_mount(self) -> None:
        self._title()

    def on_resize(self) -> None:
        # The first lines are written before the pane is laid out: the end they scrolled to was
        # reckoned for a pane of no height, and the first `up` went nowhere. Following the end,
        # scroll to it again now that the pane knows its height (a shorter pane left the view
        # above the end). Wrapped, the lines are cut again to the new width.
        if self._fold_width() != self._folded_at:
            self._redraw(self._top())
        elif self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._at_end = new >= self.max_scroll_y or not self.size

    @property
    def following(self) -> bool:
        """At the end of the output (new lines scroll into view), or on the way there: a key
        that scrolls with an animation (`down`, `pgdn`) towards the end follows once there, the
        lines that come meanwhile must not stop it short; one that scrolls away from the end
        (`up`) is not undone by them. Not while the scrollbar is held."""
        if self.is_vertical_scrollbar_grabbed:
            return False
        if self.app.animator.is_being_animated(self, "scroll_y"):
            return self.scroll_target_y >= self.max_scroll_y
        return self._at_end

    def action_follow_end(self) -> None:
        """`end`: the last line at once (Textual's scrolls there in an animation, and lines
        written meanwhile found the view not at the end: it stopped following), following."""
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _title(self) -> None:
        title = f"Output of {safe(self.task_id)}" if self.task_id else "Output"
        if self.search and not any(self.search in x for x in self._kept):
            # (said: an empty pane read as a search still under way, or a bug)
            kept = f" of the last {len(self._kept):,} kept" if self._earlier else ""
            title += f" · no line{kept} matches {quoted(self.search)} (n: all lines)"
        elif self.search:
            title += f" · matching {quoted(self.search)} (n: all lines)"
        if self.wrap:
            title += " · wrapped"
        self.border_title = Content(title)  # (as typed: a search may hold `[`)
        self.border_subtitle = (
            Content(
                f"{self._earlier:,} earlier lines not shown · all: phasegate logs "
                f"{safe(self.feed.run_id)} {safe(self.task_id or '')}"
                f"{safe(db_flag(self.feed.store.path))}"
            )
            if self._earlier
            else ""
        )

    def follow(self, task: str | None) -> None:
        """Show this task's output from its newest lines."""
        if task == self.task_id:
            return
        self.task_id = task
        self._attempt = 0
        self._after = (0, 0)
        self._earlier = 0
        self._kept.clear()
        self.clear()
        self._at_end = True  # (its newest lines, following: wherever the last task's were)
        self._title()

    async def poll(self) -> None:
        """Read the lines written since the last poll and show them: the first read takes the
        task's last KEEP_LINES lines (its tail, as a window; never its whole output), the next
        ones what came after them."""
        if self._reading or self.task_id is None:
            return
        self._reading = True
        task, run, after = self.task_id, self.feed.run_id, self._after
        earlier = 0
        try:
            if after == (0, 0):
                rows = await self.feed.store.last_task_output(run, task, KEEP_LINES)
                if len(rows) == KEEP_LINES:
                    first = (rows[0].attempt, rows[0].line)
                    earlier = await self.feed.store.count_task_output(run, task, first)
            else:
                rows = await self.feed.store.tail_task_output(run, task, after)
        finally:
            self._reading = False
        if not rows or task != self.task_id or after != self._after:
            return
        self._after = (rows[-1].attempt, rows[-1].line)
        fresh = []
        for line in rows:
            if line.attempt != self._attempt:
                self._attempt = line.attempt
                fresh.append(f"{ATTEMPT}{line.attempt} ──")
            fresh.append(safe(line.text) if line.stream == "out" else f"[err] {safe(line.text)}")
        overflow = len(self._kept) + len(fresh) - KEEP_LINES
        if overflow > 0:  # the window moves on: the lines it lets go are counted as earlier
            going = list(islice(chain(self._kept, fresh), overflow))
            earlier += sum(1 for x in going if not x.startswith(ATTEMPT))
        self._kept.extend(fresh)
        if earlier:
            self._earlier += earlier
            self._title()
        if self._fold_width() != self._folded_at:  # (wrapped, and the pane's width changed)
            self._redraw()
            return
        shown = [x for x in fresh if self.search in x] if self.search else fresh
        if shown:
            self._write(self._fold(shown))
            if self.search:  # (it may say no line matched until now)
                self._title()

    def _write(self, lines: list[str]) -> None:
        """Log.write_lines, repainted when it let lines go: at the end it repaints by scrolling
        further, and a full Log stays where it was (the pane showed old lines as if they were
        the last until a key was pressed); scrolled up, the view stays on the lines it shows."""
        at_end = self.following
        held = len(self.lines) + sum(len(x.splitlines()) for x in lines)
        self.write_lines(lines, scroll_end=False)
        gone = held - len(self.lines)
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif gone > 0:
            self.scroll_to(y=max(0, self.scroll_y - gone), animate=False, immediate=True)
        if gone > 0:
            self.refresh()

    def set_search(self, text: str) -> None:
        top = self._top()
        self.search = text
        self._redraw(top)

    def action_sideways(self, direction: int) -> None:
        """Scroll long lines by a quarter of the pane (at least 8 columns)."""
        step = max(8, self.scrollable_content_region.width // 4)
        self.scroll_relative(x=direction * step, animate=False)

    def toggle_wrap(self) -> None:
        """Wrap long lines into the pane's width, or show them whole (scrolled sideways)."""
        top = self._top()
        self.wrap = not self.wrap
        self._redraw(top)

    def _redraw(self, top: int | None = None) -> None:
        """All the kept lines again (searched, cut to the pane's width when wrapped). At the end
        before, at the end after (the Log kept its scroll offset: a place in other lines);
        scrolled up, `top` (a kept line's index) or the first shown line after it on top."""
        text = self.search
        at_end = self.following
        self.clear()
        self.write_lines(
            self._fold([x for x in self._kept if text in x] if text else self._kept),
            scroll_end=False,
        )
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif top is not None:
            row = -self._gone()
            for i, line in self._shown():
                if i >= top:
                    break
                row += self._rows(line)
            self.scroll_to(y=max(0, row), animate=False, immediate=True)
        self._title()

    def _shown(self) -> list[tuple[int, str]]:
        """The kept lines the search lets through, with their index among the kept lines."""
        return [(i, x) for i, x in enumerate(self._kept) if self.search in x]

    def _rows(self, line: str) -> int:
        """The rows a kept line takes in the Log (more than one: wrapped)."""
        return max(1, -(-len(line) // self._folded_at)) if self._folded_at else 1

    def _gone(self) -> int:
        """The rows the Log let go of (a wrapped window of KEEP_LINES lines takes more rows
        than the Log holds)."""
        return max(0, sum(self._rows(x) for _, x in self._shown()) - len(self.lines))

    def _top(self) -> int | None:
        """The index among the kept lines of the line at the top of the view, to show it there
        again after a redraw (None: following, or not known)."""
        if self.following:
            return None
        row = int(self.scroll_y) + self._gone()
        for i, line in self._shown():
            row -= self._rows(line)
            if row < 0:
                return i
        return None

    def _fold_width(self) -> int | None:
        """The width lines are cut to now: None when not wrapped (or not laid out yet)."""
        width = self.scrollable_content_region.width
        return width if self.wrap and width >= MIN_WRAP else None

    def _fold(self, lines: Iterable[str]) -> list[str]:
        width = self._folded_at = self._fold_width()
        if width is None:
            return list(lines)
        folded = []
        for line in lines:
            folded += [line[i : i + width] for i in range(0, len(line), width)] or [""]
        return folded
