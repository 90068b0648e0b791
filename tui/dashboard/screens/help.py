"""`?`: every key of the screen it is shown over (the dashboard's, or the run browser's), then
the commands of the palette (ctrl+p) there."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from phasegate.tui.dashboard.palette import DASHBOARD_COMMANDS

KEYS = [
    ("?", "this help"),
    ("ctrl+p", "command palette"),
    ("tab / shift+tab", "next / previous region"),
    ("↑ ↓  j k", "move in the task table"),
    ("home / end", "the first / last task of the table"),
    ("enter, l", "the selected task: its details and output (l: the output, following)"),
    (
        "/ in the output",
        "search it: only the lines that hold the text (n: every line again); ← → scroll long"
        " lines, w wraps them, end: the last line, following; esc or q back",
    ),
    ("enter on risks", "every risk of the feed, its message whole"),
    ("/", "filter tasks by id, phase, agent or status"),
    ("o", "sort tasks: plan order, status, duration, phase, agent"),
    ("f", "follow the running task"),
    ("g", "gates, and agents' open permission requests; enter answers one"),
    ("p", "pause the run, or resume it (or the phases paused alone)"),
    (
        "s / x",
        "skip the selected task (asks a reason, ctrl+s skips; its dependents go on) / cancel it"
        " (asks: ctrl+s cancels, esc goes back)",
    ),
    ("+ / -", "raise / lower the selected task's priority (higher first; the table shows ↑2)"),
    ("enter on phases", "each research query's answers or its error (a run that asked some)"),
    ("R", "retry the selected task (failed, cancelled or blocked) as a new attempt (ctrl+s)"),
    ("n", "add a note to the run"),
    (
        "a / r",
        "in a gate prompt: approve (asks to confirm, a reason if you like) / reject"
        " (asks a reason); ctrl+s sends the decision, enter never does;"
        " PHASEGATE_QUICK_APPROVE=1 approves at once",
    ),
    (
        "a / r",
        "in a risk's question (a risk rule that asks; the run is paused): go on / stop the run"
        " (asks a reason); each confirmed with ctrl+s; esc later",
    ),
    ("a / A / r", "in a permission prompt: allow once / for the task / deny (asks why); ctrl+s"),
    ("r", "when the run's engine died: take the run over (resume it)"),
    ("esc", "back, or clear the filter"),
    ("d", "detach: close the dashboard, the run goes on (phasegate attach)"),
    ("q, ctrl+q", "quit (an active run: ctrl+s stops it, l leaves it running, esc stays)"),
]

# the run browser's (`phasegate ui`): only what works there
BROWSER_KEYS = [
    ("?", "this help"),
    ("ctrl+p", "command palette"),
    ("↑ ↓  j k", "move in the list of runs"),
    ("pgup / pgdn", "a page up / down"),
    ("home / end", "the first / last run of the list"),
    ("enter", "open the run's dashboard (esc there comes back)"),
    ("/", "filter runs by id, plan, status or user"),
    ("o", "sort runs: newest first, plan, status, duration"),
    ("esc", "clear the filter"),
    ("q", "quit"),
]


def _listing(rows: list[tuple[str, str]]) -> Table:
    """Two columns: what to press or pick (bold, never wrapped), what it does."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, what in rows:
        table.add_row(name, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 70; max-width: 100%; height: auto; max-height: 22;
        border: round $accent; background: $surface; padding: 0 1; scrollbar-gutter: stable; }
    HelpScreen .head { text-style: bold; }
    """

    def __init__(
        self,
        keys: list[tuple[str, str]] = KEYS,
        commands: list[tuple[str, str, str]] = DASHBOARD_COMMANDS,
    ) -> None:
        """`keys` and the palette's `commands` (name, what it does, action): the dashboard's
        unless the screen below has others (the run browser)."""
        super().__init__()
        self._keys = keys
        self._commands = commands

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys"
            box.border_subtitle = "↑↓ scroll · esc to close"
            yield Static(_listing(self._keys))
            yield Static(
                "\nIn the command palette (ctrl+p, then type to narrow it):", classes="head"
            )
            yield Static(_listing([(name, what) for name, what, _ in self._commands]))

    def on_resize(self) -> None:
        """22 lines at the most, and no more than the terminal has: on a shorter one the box's
        bottom border and its hint were cut off, its scrollbar drawn outside."""
        self.query_one(VerticalScroll).styles.max_height = min(22, self.size.height)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
