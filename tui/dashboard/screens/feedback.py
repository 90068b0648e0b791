"""The feedback prompt: the plan's stakeholder questions (a 1-5 rating and a comment by default),
shown to those its `feedback:` section asks when the run ends or its gate opens. Enter in the
last field (or ctrl+s) sends the answers; esc answers later (`phasegate feedback RUN`)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from phasegate.engine.client.feedback import give, questions
from phasegate.engine.model.errors import PhasegateError
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import safe


class FeedbackPrompt(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", id="feedback.send"),
        Binding("escape", "close", "Later", id="feedback.close"),
    ]
    DEFAULT_CSS = """
    FeedbackPrompt { align: center middle; }
    FeedbackPrompt > Vertical { width: 76; max-width: 100%; height: auto; max-height: 22;
        border: round $accent; background: $surface; padding: 0 1; }
    FeedbackPrompt Label { color: $text-muted; }
    """

    def __init__(self, feed: RunFeed) -> None:
        super().__init__()
        self.feed = feed
        self.questions = questions(feed.state)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "How did this run go for you?"
            box.border_subtitle = "enter next · enter in the last sends · esc later"
            yield Static(Text(f"Your feedback on run {self.feed.run_id} is kept with its lessons."))
            for q in self.questions:
                yield Label(Text(safe(q["text"])))
                rating = q.get("kind") == "rating"
                yield Input(
                    placeholder="1-5" if rating else "(optional)",
                    id=f"q-{q['id']}",
                    restrict=r"[1-5]?" if rating else None,
                    max_length=1 if rating else 0,
                )

    @on(Input.Submitted)
    async def _next(self, event: Input.Submitted) -> None:
        fields = list(self.query(Input))
        at = fields.index(event.input)
        if at + 1 < len(fields):
            fields[at + 1].focus()
        else:
            await self.action_send()

    async def action_send(self) -> None:
        rating: int | None = None
        comment, more = "", {}
        first = {"rating": True, "text": True}
        for q in self.questions:
            value = self.query_one(f"#q-{q['id']}", Input).value.strip()
            kind = q.get("kind", "text")
            if not value:
                first[kind] = False
                continue
            if first.get(kind) and kind == "rating":
                rating = int(value)
            elif first.get(kind):
                comment = value
            else:
                more[q["id"]] = value
            first[kind] = False
        try:
            given = await give(self.feed.store, self.feed.run_id, rating, comment, more)
        except PhasegateError as exc:
            self.app.notify(safe(str(exc)), severity="error", timeout=8, markup=False)
            return
        self.app.notify(f"feedback kept, thank you ({safe(given.user)})", timeout=4, markup=False)
        self.dismiss()

    def action_close(self) -> None:
        self.app.notify(f"later: phasegate feedback {self.feed.run_id} --rating N", timeout=6)
        self.dismiss()
