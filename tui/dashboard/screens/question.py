"""A risk rule that asks (`risks.actions: {RULE: ask}`) pauses the run and prompts like a gate:
a go on (resume the run; a spent budget's question says that this extends the budget, and by
how much), r stop it (asks a reason; the run is cancelled), each confirmed by ctrl+s, so that
a stray key never answers; esc decide later (the run stays paused; `p` resumes it, and
`phasegate resume|cancel` do the same)."""

from __future__ import annotations

import re
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from phasegate.engine.model.commands import Cancel, Resume
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.ask import ReasonPrompt
from phasegate.tui.text import safe, when


class QuestionPrompt(ReasonPrompt):
    NEEDS_REASON = "stopping the run needs a reason"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "go_on", "Go on", id="ask.go_on"),
        Binding("r", "stop", "Stop the run", id="ask.stop"),
        Binding("escape", "close", "Later", id="ask.close"),
    ]
    DEFAULT_CSS = """
    QuestionPrompt { align: center middle; }
    QuestionPrompt > Vertical { width: 76; max-width: 100%; height: auto; max-height: 22;
        border: round $warning; background: $surface; padding: 0 1; }
    """

    def __init__(self, feed: RunFeed) -> None:
        super().__init__()
        self.feed = feed
        self.risk = str(feed.state.question.get("risk", ""))

    def compose(self) -> ComposeResult:
        q = self.feed.state.question
        risk = self.feed.state.risks.get(self.risk)
        body = Table.grid(padding=(0, 1))
        body.add_column(no_wrap=True, style="dim")
        body.add_column(overflow="fold")
        if risk is not None:
            body.add_row("risk", Text(f"{risk.severity} · {safe(risk.subject)}"))
            body.add_row("what", Text(safe(risk.message)))
            if risk.action:
                body.add_row("advice", Text(safe(risk.action)))
            shown = [(k, v) for k, v in risk.evidence.items() if v is not None]
            for key, value in shown[:6]:
                body.add_row(safe(str(key)), Text(safe(str(value))))
        body.add_row("asked", Text(f"{when(q.get('at'))} by {safe(str(q.get('by', '')))}"))
        extend = self.extension()
        if extend:  # (a budget's question: what `a` does is more than going on)
            keys = f"a extends {extend} and resumes the run; r stops the run; esc: later"
            body.add_row("keys", Text(keys))
        with Vertical() as box:
            box.border_title = "A risk rule asks: go on?"
            box.border_subtitle = "a go on · r stop the run · esc later"
            if extend:
                box.border_title = "A budget is spent: extend it?"
                box.border_subtitle = "a extend and go on · r stop the run · esc later"
            yield Static(Text("The run is paused: no new task starts until you answer."))
            yield Static(body)
            yield from self.confirming()

    def extension(self) -> str:
        """For a spent budget's question (`ask`), what `a` adds to it: `the budget of task build
        by 2.0s` (the size as the engine's question says it); else ""."""
        if not self.risk.startswith("budget:"):
            return ""
        scope = safe(self.risk.removeprefix("budget:"))
        asked = str(self.feed.state.question.get("reason", ""))
        said = re.search(r"resume to extend it by (.+), or cancel", asked)
        return f"the budget of {scope} " + (f"by {safe(said[1])}" if said else "by its size")

    def action_go_on(self) -> None:
        """`a` asks to confirm (ctrl+s): a stray `a` never resumes the run."""
        if not self.asking:
            extend = self.extension()
            doing = f"extend {extend} and resume the run" if extend else "go on: resume the run"
            self.confirm(self.go_on, doing)

    async def go_on(self, _: str) -> None:
        why = await self.feed.send(Resume())
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6)
            return
        self.app.notify("resume sent: the run goes on", timeout=3)

    def action_stop(self) -> None:
        if not self.asking:
            placeholder = f"why stop the run? ({self.SEND} sends)"
            self.confirm(self.stop, "stop the run", "required", placeholder=placeholder)

    async def stop(self, reason: str) -> None:
        why = f"stopped at a risk's question: {reason}"
        refused = await self.feed.send(Cancel(why))
        if refused is not None:
            self.app.notify(safe(refused), severity="error", timeout=6)
            return
        self.app.notify("cancel sent: the run stops", timeout=3)
