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
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from phasegate.engine.client.feedback import MAX_ANSWER, give, questions
from phasegate.engine.model.errors import PhasegateError
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.text import safe


class Answer(Input):
    """A field of the prompt: a key it does not take (a 7 in a rating, a character past the
    longest answer kept) rings the bell and says why, not dropped without a word."""

    def __init__(self, rating: bool, qid: str) -> None:
        super().__init__(
            placeholder="1-5" if rating else "(optional)",
            id=f"q-{qid}",
            restrict=r"[1-5]?" if rating else None,
            max_length=1 if rating else MAX_ANSWER,
        )
        self.hint = (
            "a rating is one whole number from 1 to 5"
            if rating
            else f"an answer is at most {MAX_ANSWER:,} characters"
        )

    def restricted(self) -> None:
        super().restricted()
        if isinstance(self.screen, FeedbackPrompt):
            self.screen.hint(self.hint)


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
        self._hinted: Timer | None = None

    KEYS = "enter next · enter in the last sends · esc later"
    HINT_FOR = 4.0  # seconds a hint stands in the form's lower border, instead of its keys

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "How did this run go for you?"
            box.border_subtitle = self.KEYS
            yield Static(Text(f"Your feedback on run {self.feed.run_id} is kept with its lessons."))
            for q in self.questions:
                yield Label(Text(safe(q["text"])))
                yield Answer(q.get("kind") == "rating", q["id"])

    def hint(self, said: str) -> None:
        """Why a key was not taken, in the form's lower border (under the fields, where the
        eyes are), then its keys again."""
        box = self.query_one(Vertical)
        box.border_subtitle = Text(said, style="bold")
        if self._hinted is not None:
            self._hinted.stop()
        self._hinted = self.set_timer(self.HINT_FOR, self._keys_again)

    def _keys_again(self) -> None:
        self._hinted = None
        self.query_one(Vertical).border_subtitle = self.KEYS

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
