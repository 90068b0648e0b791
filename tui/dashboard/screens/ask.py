"""Small prompts: a line of text (a reason, a note) or a yes/no confirmation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from phasegate.tui.text import safe


class AskScreen(ModalScreen[str | None]):
    """Asks for a line of text; enter sends it (not when empty), esc gives up."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "give_up", "Cancel", id="ask.cancel"),
    ]
    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, placeholder: str) -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = safe(self._title)
            box.border_subtitle = "enter to send · esc to cancel"
            yield Input(placeholder=self._placeholder, id="answer")

    @on(Input.Submitted, "#answer")
    def _sent(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_give_up(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 100%; height: auto; border: round $warning;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_subtitle = "y yes · n no"
            yield Static(safe(self._question))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ReasonPrompt(ModalScreen[None]):
    """A decision prompt with a hidden reason line (an Input `#reason`, disabled until shown,
    so that it does not take the prompt's keys): `ask_reason` shows it, enter sends the reason
    to `with_reason` (never empty, unless the line was asked as optional) and closes the
    prompt; esc on the line hides it again (nothing decided)."""

    NEEDS_REASON = "this needs a reason"

    def __init__(self, with_reason: Callable[[str], Awaitable[None]]) -> None:
        super().__init__()
        self._with_reason = with_reason
        self._then = with_reason  # what the reason line's enter does now
        self._optional = False

    def ask_reason(
        self,
        then: Callable[[str], Awaitable[None]] | None = None,
        optional: bool = False,
        placeholder: str = "",
    ) -> None:
        box = self.query_one("#reason", Input)
        self._then, self._optional = then or self._with_reason, optional
        if placeholder:
            box.placeholder = placeholder
        box.disabled = False
        box.add_class("visible")
        box.focus()

    @property
    def asking(self) -> bool:
        """Is the reason line shown (a decision being confirmed)?"""
        return self.query_one("#reason", Input).has_class("visible")

    @on(Input.Submitted, "#reason")
    async def _reason_given(self, event: Input.Submitted) -> None:
        if not event.value.strip() and not self._optional:
            self.app.notify(self.NEEDS_REASON, severity="warning", timeout=3)
            return
        await self._then(event.value.strip())
        self.dismiss()

    def action_close(self) -> None:
        box = self.query_one("#reason", Input)
        if box.has_class("visible"):  # esc on the reason line: back to the prompt's keys
            box.value = ""
            box.remove_class("visible")
            box.disabled = True
            self.set_focus(None)
            return
        self.dismiss()
