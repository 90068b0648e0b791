"""`enter` on the phase panel: the plan's research queries, asked as the first phase started,
each with its query and where it was asked, then its answers or why it has none (the panel
shows them as one line: their names, the count of answers, `error` if one failed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from phasegate.tui.text import one_line, safe


class ResearchScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="research.close"),
    ]
    DEFAULT_CSS = """
    ResearchScreen { align: center middle; }
    ResearchScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 22;
        border: round $accent; background: $surface; padding: 0 1; scrollbar-gutter: stable; }
    """

    def __init__(self, research: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        self.research = [dict(r) for r in research.values()]  # (as it was when opened)

    def compose(self) -> ComposeResult:
        failed = sum(1 for r in self.research if r.get("error"))
        with VerticalScroll() as box:
            box.border_title = f"Research ({len(self.research)}" + (
                f", {failed} failed)" if failed else ")"
            )
            box.border_subtitle = "↑↓ scroll · esc to close"
            yield Static(research_text(self.research))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def research_text(research: list[dict[str, Any]]) -> Text:
    """Each query: its id, the query asked and the count of answers, then why it failed (its
    command named) or the command that answered (not for `history`), then its answers one a
    line; every word of them as plain text."""
    text = Text()
    for r in research:
        found = list(r.get("results") or [])
        error = str(r.get("error") or "")
        text.append(safe(str(r.get("id", "?"))), style="bold")
        text.append(f" ({one_line(str(r.get('query', '')))})")
        count = f"{len(found)} answer{'s' if len(found) != 1 else ''}"
        text.append(f"  {count}\n", style="dim")
        provider = str(r.get("provider") or "")
        if error:  # (it names the command)
            text.append("  failed: ", style="red")
            text.append(f"{one_line(error)}\n")
        elif provider and provider != "history":
            text.append(f"  asked: {one_line(provider)}\n", style="dim")
        for line in found:
            text.append(f"  · {one_line(str(line))}\n")
    text.rstrip()
    return text or Text("no research asked", style="dim")
