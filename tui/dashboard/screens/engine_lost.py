"""The run's engine died under an attached dashboard: say so, and offer to take the run over."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from phasegate.tui.text import safe


class EngineLostScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose(True)", "Resume the run", id="lost.resume"),
        Binding("escape", "choose(False)", "Keep watching", id="lost.stay"),
    ]
    DEFAULT_CSS = """
    EngineLostScreen { align: center middle; }
    EngineLostScreen > Vertical { width: 64; max-width: 100%; height: auto;
        border: round $error; background: $surface; padding: 0 1; }
    """

    def __init__(
        self,
        run_id: str,
        pid: int | None,
        in_flight: list[str],
        taker: str | None = None,
        how: str = "",
    ) -> None:
        """`taker`: who alone can take the run over (`alice (the run's starter)`), when the
        viewer cannot: another OS user's shared run, whose database is theirs to write; `r`
        is then not offered, and `how` is the command they would give."""
        super().__init__()
        self.run_id, self.pid, self.in_flight = run_id, pid, in_flight
        self.taker, self.how = taker, how

    def compose(self) -> ComposeResult:
        engine = f"Its engine (pid {self.pid})" if self.pid else "Its engine"
        flying = ", ".join(safe(t) for t in self.in_flight[:6])
        if len(self.in_flight) > 6:
            flying += f" and {len(self.in_flight) - 6} more"
        detail = (
            f"In flight: {flying} (each follows its on_resume: by default it runs again)."
            if flying
            else "No task was in flight."
        )
        with Vertical() as box:
            box.border_title = f"Run {self.run_id} was interrupted"
            if self.taker is not None:  # (`r` would fail: say who can, and how)
                yield Static(  # (a Text: a name or a path is never read as markup)
                    Text.assemble(
                        f"{engine} stopped: nothing more happens until the run is taken "
                        "over, and only ",
                        (safe(self.taker), "bold"),
                        " can take it over (the run's database is theirs to write):\n",
                        safe(self.how),
                        f"\nFinished tasks never run again. {detail}\n\n",
                        ("esc", "bold"),
                        " keep watching",
                    )
                )
                return
            yield Static(
                f"{engine} stopped: nothing more happens until the run is taken over.\n"
                f"Finished tasks never run again. {detail}\n\n"
                "[b]r[/b]   resume it now (a new engine in the background)\n"
                "[b]esc[/b] keep watching (or later: phasegate resume "
                f"{self.run_id})"
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No `r` for a viewer who cannot take the run over."""
        return not (action == "choose" and parameters == (True,) and self.taker is not None)

    def action_choose(self, choice: bool) -> None:
        if choice and self.taker is not None:
            return
        self.dismiss(choice)
