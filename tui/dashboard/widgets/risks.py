"""The risk feed: newest first, each with its time, severity, subject and message (cut to one
line: `enter` shows them whole); a risk rule's risk that no longer holds says `cleared` first
(in words: the feed is read without colour too)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.risks import MAX_RISKS, Risk
from phasegate.tui.dashboard.widgets.style import SEVERITY_STYLE
from phasegate.tui.text import safe

SHORT = {"info": "INFO", "low": "LOW", "medium": "MED", "high": "HIGH", "critical": "CRIT"}


class RiskFeed(Static, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "All", id="risks.open"),  # (short: 80 columns)
    ]
    DEFAULT_CSS = """
    RiskFeed { border: round $primary-darken-2; height: 5; padding: 0 1; }
    RiskFeed:focus { border: round $accent; }
    """

    def on_mount(self) -> None:
        self.border_title = "Risks"
        self.show([])

    _risks: Collection[Risk] = ()

    class Opened(Message):
        """`enter` on the feed: its screen shows the risks whole."""

        def __init__(self, risks: Collection[Risk]) -> None:
            super().__init__()
            self.risks = risks

    def action_open(self) -> None:
        self.post_message(self.Opened(list(self._risks)))

    def show(self, risks: Collection[Risk], state: RunState | None = None) -> None:
        """`state`: the run as folded, which says which risk rules' risks have cleared."""
        self._risks = list(risks)
        if not risks:
            self.update(Text("no risks so far", style="dim"))
            return
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        newest = sorted(risks, key=lambda r: (r.ts, r.rank), reverse=True)
        gone = {id(r) for r in risks if state is not None and r.cleared(state) is not None}
        for r in newest[: max(self.size.height, 3)]:
            clock = time.strftime("%H:%M:%S", time.localtime(r.ts))
            said = f"{safe(r.subject)}: {safe(r.message)}"
            grid.add_row(
                clock,
                Text(SHORT.get(r.severity, r.severity), style=SEVERITY_STYLE.get(r.severity, "")),
                Text(f"cleared · {said}", style="dim", no_wrap=True, overflow="ellipsis")
                if id(r) in gone
                else Text(said, no_wrap=True, overflow="ellipsis"),
            )
        more = "+" if len(risks) >= MAX_RISKS else ""
        cleared = f", {len(gone)} cleared" if gone else ""
        self.border_title = f"Risks ({len(risks)}{more}{cleared})"
        self.update(grid)
