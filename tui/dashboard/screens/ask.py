"""Small prompts: a line of text (a reason, a note) or a yes/no confirmation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static

from phasegate.tui.text import safe


class AskScreen(ModalScreen[str | None]):
    """Asks for a line of text; enter sends it (not when empty), esc gives up. The letters typed
    right after the key that opened it, in one burst (a fast typist, a paste, keys over a slow
    link), are its text, those that reached it before its line had the focus too. A line that
    acts on the run (`decides`: a skip's reason) is sent by ctrl+s only, as a decision at a
    prompt is: `status` and enter, typed by mistake, skipped the selected task (reason `tatus`)."""

    SEND = "ctrl+s"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "give_up", "Cancel", id="ask.cancel"),
        Binding("ctrl+s", "send", "Send", show=False, id="ask.send"),
    ]
    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, placeholder: str, decides: str = "") -> None:
        """`decides`: what sending does to the run, plain text (`skip task t`): ctrl+s sends."""
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._decides = decides

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = safe(self._title)
            sent = f"{self.SEND} to {self._decides}" if self._decides else "enter to send"
            box.border_subtitle = safe(f"{sent} · esc to cancel")
            yield Input(placeholder=self._placeholder, id="answer")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#answer", Input))  # (at once: the keys coming are its)

    def on_key(self, event: events.Key) -> None:
        """A letter sent to the screen itself (its line had not the focus yet when it came;
        the line keeps those it has) is the line's: it was lost."""
        if event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            self.query_one("#answer", Input).insert_text_at_cursor(event.character)

    @on(Input.Submitted, "#answer")
    def _sent(self, event: Input.Submitted) -> None:
        if not self._decides:
            self._send(event.value)
        elif event.value.strip():
            said = f"{self.SEND} to {self._decides}: enter alone decides nothing"
            self.app.notify(said, timeout=4, markup=False)

    def action_send(self) -> None:
        if self._decides:
            self._send(self.query_one("#answer", Input).value)

    def _send(self, text: str) -> None:
        if text.strip():
            self.dismiss(text.strip())
        elif self._decides:
            self.app.notify(ReasonPrompt.NEEDS_REASON, severity="warning", timeout=3)

    def action_give_up(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Asks to confirm what a key does to the run: only ctrl+s confirms (a word typed by
    mistake never holds it: `x` then `y` of `oxygen` cancelled a task), `n` or esc goes back."""

    SEND = "ctrl+s"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "answer(True)", "Confirm", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "Back", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 100%; height: auto; border: round $warning;
        background: $surface; padding: 0 1; }
    ConfirmScreen #keys { text-style: bold; }
    """

    def __init__(self, question: str, does: str) -> None:
        """`question` (plain text) and what ctrl+s does (`cancels the task`)."""
        super().__init__()
        self._question = question
        self._does = does

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_subtitle = f"{self.SEND} confirm · n/esc back"
            yield Static(Text(safe(self._question)))
            yield Static(Text(f"{self.SEND} {self._does} · esc goes back"), id="keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ReasonPrompt(ModalScreen[None]):
    """A decision prompt whose keys never decide at once: a key (`a`, `r`...) asks to confirm
    (`confirm`), and only ctrl+s sends the decision, with the text of the reason line when the
    decision takes one (disabled and hidden until then, so that it does not take the prompt's
    keys). Enter never decides: a word typed by mistake ends with it, and its letters land in
    the reason line at worst. esc on a confirmation goes back to the prompt's keys."""

    NEEDS_REASON = "this needs a reason"
    SEND = "ctrl+s"  # the key that confirms (a word, enter included, never types it)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Confirm", show=False, id="prompt.send"),
    ]
    DEFAULT_CSS = """
    ReasonPrompt #reason, ReasonPrompt #confirm { display: none; }
    ReasonPrompt #reason.visible, ReasonPrompt #confirm.visible { display: block; }
    ReasonPrompt #confirm { text-style: bold; }
    """

    BODY_ROWS = 15  # the most rows its scrolled part (a request, a gate's evidence) takes
    # the rows around that part: a row left free above and below the box, its border, the
    # lines above it, the confirmation's line and the reason line (3): room kept for the last
    # two from the start, so that `a` or `r` never pushes the box's border out of the screen
    AROUND = 2 + 2 + 1 + 1 + 3

    def on_mount(self) -> None:
        self.fit(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self.fit(event.size.height)

    def fit(self, height: int) -> None:
        """Its scrolled part's rows at this terminal height (at least one): the rest of the box
        (border, key hints, confirmation, reason line) always fits."""
        rows = max(1, min(self.BODY_ROWS, height - self.AROUND))
        for part in self.query(VerticalScroll):
            part.styles.max_height = rows

    def __init__(self) -> None:
        super().__init__()
        self._then: Callable[[str], Awaitable[None]] | None = None  # the decision confirmed
        self._doing = ""  # what it does, said to the person ("approve gate review")
        self._reason = ""  # its reason line: "required", "optional" or "" (none)
        self._sending = False
        self._keys: str | None = None  # the border's keys, while a confirmation shows its own

    def confirm(
        self,
        then: Callable[[str], Awaitable[None]],
        doing: str,
        reason: str = "",
        placeholder: str = "",
    ) -> None:
        """Ask to confirm `doing` (plain text): ctrl+s calls `then` with the reason line's text
        (`reason`: "required", "optional", or "" for a decision without one), esc goes back."""
        self._then, self._doing, self._reason = then, doing, reason
        said = self.query_one("#confirm", Static)
        said.update(Text(f"{doing[:1].upper()}{doing[1:]}? {self.SEND} confirms · esc goes back"))
        said.add_class("visible")
        box = said.parent  # (its border's keys: the confirmation's while it is asked)
        if isinstance(box, Widget) and self._keys is None:
            self._keys = str(box.border_subtitle or "")
            box.border_subtitle = f"{self.SEND} confirm · esc back"
        line = self.query_one("#reason", Input)
        if not reason:
            self.set_focus(None)
            return
        if placeholder:
            line.placeholder = placeholder
        line.disabled = False
        line.add_class("visible")
        self.set_focus(line)  # (at once, not after the keys already sent: see `on_key`)

    def confirming(self) -> ComposeResult:
        """The confirmation's line and the reason line, last in the prompt's box (hidden)."""
        yield Static(id="confirm")
        # disabled until asked, so that it does not take the keys meant for the prompt
        yield Input(id="reason", disabled=True)

    @property
    def asking(self) -> bool:
        """Is a decision being confirmed?"""
        return self._then is not None

    async def on_key(self, event: events.Key) -> None:
        """The keys typed right after a key that asks a reason (`r`), in one burst (a fast
        typist, a paste, keys over a slow link), are the reason's: the prompt's key acts here
        (before the keys sent after it were handed on: they went to the prompt, not its line),
        and a letter that reached the prompt itself while its reason line is asked goes into
        it."""
        if not event.is_printable or not event.character:
            return
        line = self.query_one("#reason", Input)
        if self.asking:
            if self._reason:  # (the line keeps the letters it has: these went past it)
                event.stop()
                event.prevent_default()
                line.insert_text_at_cursor(event.character)
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return

    @on(Input.Submitted, "#reason")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.app.notify(
            f"{self.SEND} to {self._doing}: enter alone decides nothing", timeout=4, markup=False
        )

    async def action_send(self) -> None:
        then = self._then
        if then is None or self._sending:
            return  # (nothing asked to confirm: ctrl+s alone decides nothing)
        text = self.query_one("#reason", Input).value.strip() if self._reason else ""
        if self._reason == "required" and not text:
            self.app.notify(self.NEEDS_REASON, severity="warning", timeout=3)
            return
        self._sending = True
        try:
            await then(text)
        finally:
            self._sending = False
        if self.is_current:  # (not closed meanwhile: decided elsewhere, the run ended)
            self.dismiss()

    def action_close(self) -> None:
        if self._then is None:
            self.dismiss()
            return
        self._then = None  # esc on a confirmation: back to the prompt's keys
        said = self.query_one("#confirm", Static)
        said.remove_class("visible")
        if isinstance(said.parent, Widget) and self._keys is not None:
            said.parent.border_subtitle, self._keys = self._keys, None
        line = self.query_one("#reason", Input)
        line.value = ""
        line.remove_class("visible")
        line.disabled = True
        self.set_focus(None)
