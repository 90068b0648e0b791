"""`enter` on the risk feed: every risk it holds, newest first, each message whole (the feed cuts
them to one line)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.risks import Risk
from phasegate.tui.dashboard.widgets.style import SEVERITY_STYLE
from phasegate.tui.text import safe


class RisksScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="risks.close"),
    ]
    DEFAULT_CSS = """
    RisksScreen { align: center middle; }
    RisksScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 22;
        border: round $accent; background: $surface; padding: 0 1; scrollbar-gutter: stable; }
    """

    def __init__(self, risks: Collection[Risk], state: RunState | None = None) -> None:
        super().__init__()
        self.risks = sorted(risks, key=lambda r: (r.ts, r.rank), reverse=True)
        self.state = state  # (which risk rules' risks have cleared)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Risks ({len(self.risks)})"
            box.border_subtitle = "↑↓ scroll · esc to close"
            yield Static(self._text())

    def show(self, risks: Collection[Risk]) -> None:
        """The risks again, as the run goes on while the list is open (one raised, one
        cleared)."""
        self.risks = sorted(risks, key=lambda r: (r.ts, r.rank), reverse=True)
        self.query_one(VerticalScroll).border_title = f"Risks ({len(self.risks)})"
        self.query_one(Static).update(self._text())

    def _text(self) -> Text:
        text = Text()
        for r in self.risks:
            clock = time.strftime("%H:%M:%S", time.localtime(r.ts))
            text.append(f"{clock} ")
            text.append(r.severity.upper(), style=SEVERITY_STYLE.get(r.severity, ""))
            text.append(f" {safe(r.subject)}", style="bold")
            cleared = r.cleared(self.state) if self.state is not None else None
            if cleared is not None:
                text.append(f" · cleared {cleared}".rstrip(), style="dim")
            text.append("\n")
            text.append(f"  {safe(r.message)}\n")
        return text or Text("no risks so far", style="dim")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
