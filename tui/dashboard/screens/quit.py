"""Leaving a dashboard while its run is active: stop the run, or leave it running (only the
latter for a viewer who may not operate the run: the engine would refuse the stop). Stopping
takes ctrl+s, as a decision at a prompt does: `q` then `s` of a word typed by mistake (`quits`)
stopped the whole run."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class QuitScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "choose('stop')", "Stop the run", id="quit.stop"),
        Binding("l", "choose('leave')", "Leave it running", id="quit.leave"),
        Binding("escape", "choose(None)", "Stay", id="quit.stay"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 60; max-width: 100%; height: auto; border: round $warning;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, stop: bool = True) -> None:
        """`stop`: the viewer may stop the run (operates it)."""
        super().__init__()
        self.stop = stop

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "The run is still going"
            keys = [("ctrl+s", "stop the run (its tasks are terminated)")] if self.stop else []
            keys += [("l", "leave it running and close the dashboard"), ("esc", "stay here")]
            wide = max(len(key) for key, _ in keys) + 1
            yield Static(
                "\n".join(f"[b]{key}[/b]{' ' * (wide - len(key))}{does}" for key, does in keys)
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.stop or parameters != ("stop",)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
