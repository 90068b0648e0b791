"""One task: its details and its output, following while it runs; `/` searches the output, `w`
wraps long lines, left and right scroll them."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from phasegate.engine.model.durations import format_duration
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.widgets.footer import SteadyFooter
from phasegate.tui.dashboard.widgets.output import OutputLog
from phasegate.tui.dashboard.widgets.style import STATUS_STYLE
from phasegate.tui.dashboard.widgets.tasks import tests_cell
from phasegate.tui.text import money, safe

POLL = 0.1


class TaskScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="task.back"),
        Binding("slash", "search", "Search", id="task.search", priority=True),
        Binding("n", "clear_search", "Clear search", show=False, id="task.clear"),
        Binding("j", "scroll_down", "Down", show=False, id="task.down"),
        Binding("k", "scroll_up", "Up", show=False, id="task.up"),
        Binding("q", "back", "Back", show=False, id="task.quit"),
        Binding("w", "wrap", "Wrap", id="task.wrap"),
    ]
    DEFAULT_CSS = """
    TaskScreen #details { height: auto; max-height: 7; padding: 0 1; background: $panel; }
    TaskScreen #search { dock: bottom; display: none; }
    TaskScreen #search.visible { display: block; }
    """

    def __init__(self, feed: RunFeed, task: str) -> None:
        super().__init__()
        self.feed = feed
        self.task_id = task
        self._shown = ""

    def compose(self) -> ComposeResult:
        yield Static(id="details")
        yield OutputLog(self.feed, self.task_id, id="log")
        yield Input(placeholder="search the output", id="search")
        yield SteadyFooter(compact=True)

    async def on_mount(self) -> None:
        await self._read()
        self.query_one(OutputLog).focus()
        self.set_interval(POLL, self._read)

    def _details(self) -> None:
        t = self.feed.state.tasks.get(self.task_id)
        if t is None:
            return
        line = Text()
        line.append(safe(t.id), style="bold")
        line.append(f"  phase {safe(t.phase)}  agent {safe(t.agent or '-')}  ")
        line.append(t.status.value, style=STATUS_STYLE.get(t.status.value, ""))
        took = t.duration
        began = t.attempt_started_at or t.started_at
        if took is None and began is not None and t.status.value == "running":
            took = self.feed.clock() - began  # (this attempt's, so far: shown whole seconds)
            took = float(int(took))
        line.append(f"  attempt {t.attempts}  {format_duration(took)}")
        if t.exit_code is not None:
            line.append(f"  exit {t.exit_code}")
        if t.priority:  # (the plan's, or `+`/`-`: the table shows it as ↑2 beside the id)
            line.append(f"  priority {t.priority:+d}")
        if t.needs:
            line.append(f"\nneeds {safe(', '.join(t.needs))}")
        spent = usage_line(t.usage, t.session_id)
        if spent:
            line.append(f"\n{spent}")
        if t.handoff:
            line.append(f"\n{handoff_line(t.handoff)}", style="dim")
        if t.results:
            line.append("\n")
            line.append_text(results_line(t.results))
        if t.reason:
            line.append(f"\n{safe(t.reason)}", style="yellow")
        if t.dropped:
            lines = "line" if t.dropped == 1 else "lines"
            line.append(f"\n{t.dropped:,} earlier {lines} dropped by the output cap", style="dim")
        if line.markup != self._shown:  # most polls change nothing; an update is a layout
            self._shown = line.markup
            self.query_one("#details", Static).update(line)

    async def _read(self) -> None:
        self._details()
        await self.query_one(OutputLog).poll()

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_class("visible"):
            box.remove_class("visible")
            self.query_one(OutputLog).focus()
            return
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`/` is a priority key (the box has the keys typed after it in one burst, a paste or
        a fast typist: the widget that had them queued lost them), and text in the box."""
        if action == "search":
            return self.focused is not self.query_one("#search", Input)
        return True

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("visible")
        self.set_focus(box)  # (at once: the keys typed right after `/` are the search's)

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        log = self.query_one(OutputLog)
        log.set_search(event.value)
        log.focus()

    def action_clear_search(self) -> None:
        self.query_one(OutputLog).set_search("")

    def action_wrap(self) -> None:
        self.query_one(OutputLog).toggle_wrap()

    def action_scroll_down(self) -> None:
        self.query_one(OutputLog).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one(OutputLog).scroll_up()


def usage_line(usage: dict[str, object], session: str) -> str:
    """`tokens 1,200 in / 80 out · $0.0123 reported · session 0f3a…` (a coding agent's)."""
    if not usage:
        return ""
    parts = [f"tokens {usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out"]
    source = str(usage.get("cost_source") or "")
    cost = usage.get("cost_usd")
    if source and isinstance(cost, int | float):
        parts.append(f"{money(cost)} {source}")
    else:
        parts.append("cost unknown")
    if session:
        parts.append(f"session {safe(session[:12])}")
    return " · ".join(parts)


def handoff_line(handoff: dict[str, object]) -> str:
    """`branch phasegate/RUN/edit-1 · 2 files +10 -3` (a worktree attempt's hand-off)."""
    branch = safe(str(handoff.get("branch") or ""))
    if handoff.get("error"):
        return f"worktree {branch}: no hand-off ({safe(str(handoff['error']))})"
    if not handoff.get("commit"):
        return f"worktree {branch}: no changes"
    files, added, removed = (
        handoff.get("files"),
        handoff.get("insertions"),
        handoff.get("deletions"),
    )
    return f"branch {branch} · {files} files +{added} -{removed}"


def results_line(results: dict[str, Any]) -> Text:
    """`tests 1107✓ 2✗ 12⤼ (junit) · failing: a::test_x (assert 1 == 2), ...`."""
    line = Text("tests ")
    if not results.get("source"):
        line.append(f"none read: {safe(str(results.get('error') or '?'))}", style="yellow")
        return line
    line.append_text(tests_cell(results))
    line.append(f" ({safe(str(results['source']))})", style="dim")
    failures = results.get("failures") or []
    if failures:
        shown = [
            f"{safe(f['name'])}" + (f" ({safe(f['message'])[:60]})" if f.get("message") else "")
            for f in failures[:2]
        ]
        more = len(failures) - len(shown)
        line.append(" · failing: " + ", ".join(shown) + (f" +{more}" if more > 0 else ""), "red")
    return line
