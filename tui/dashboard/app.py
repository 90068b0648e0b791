"""The Textual app: routing only. Screens and widgets hold the rest."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable

from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.screen import Screen

from phasegate.engine.client import SQLiteStore
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.palette import DASHBOARD_COMMANDS
from phasegate.tui.dashboard.screens.browser import BROWSER_COMMANDS, BrowserScreen
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.widgets.style import use_colour


class LagProbe:
    """Event-loop lag samples (seconds late), written as JSON when the app ends."""

    EVERY = 0.05

    def __init__(self, path: str) -> None:
        self.path = path
        self.samples: list[float] = []
        self._next = time.monotonic() + self.EVERY

    def tick(self) -> None:
        now = time.monotonic()
        self.samples.append(max(0.0, now - self._next))
        self._next = now + self.EVERY

    def write(self) -> None:
        with open(self.path, "w") as f:
            json.dump({"samples": self.samples}, f)


class PhasegateApp(App[str | None]):
    """Opens the dashboard of one run, or the run browser when no run is given."""

    TITLE = "phasegate"
    ENABLE_COMMAND_PALETTE = True
    # toasts at the top, below the header: at the bottom they hid the output's newest lines
    CSS = """
    ToastRack { dock: top; align: right top; margin-top: 1; margin-bottom: 0; }
    """

    def __init__(
        self, db_path: str, run_id: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        use_colour(not self.no_color)  # (Textual reads NO_COLOR: `--color never` sets it)
        self.db_path = db_path
        self.run_id = run_id
        self.clock = clock
        self.store: SQLiteStore | None = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast shows its text as given: a reason, a note or a name typed by anyone may hold
        `[` (Textual reads markup by default, and a stray `[/]` raised MarkupError)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    async def on_mount(self) -> None:
        lag_file = os.environ.get("PHASEGATE_LAG_FILE")
        if lag_file:  # benchmarks: how late the UI loop runs a 50 ms timer
            self._lag = LagProbe(lag_file)
            self.set_interval(LagProbe.EVERY, self._lag.tick)
        if not self.is_headless and _terminal_here():
            self.set_interval(TERMINAL_CHECK, self._terminal_check)
        self.store = await SQLiteStore.open(self.db_path)
        if self.run_id is not None:
            await self.push_screen(DashboardScreen(RunFeed(self.store, self.run_id, self.clock)))
        else:
            await self.push_screen(BrowserScreen(self.store, self.clock))

    def _terminal_check(self) -> None:
        """A terminal that went away without a SIGHUP (the dashboard run through su or runuser
        when its SSH session or tmux pane closed) leaves its reads at end-of-file at once:
        leave then, as on a hang-up (the run goes on), instead of spinning."""
        if not _terminal_here():
            self.exit("left")

    def action_help_quit(self) -> None:
        """ctrl+c, by reflex: how to quit (our own words, so read as markup: the toasts'
        default here is plain text)."""
        self.notify(
            "Press [b]q[/b] or [b]ctrl+q[/b] to quit", title="Do you want to quit?", markup=True
        )

    async def action_quit(self) -> None:
        """ctrl+q (Textual's quit, which ctrl+c points to) asks as `q` does on a run that is
        going: stop it, or leave it going. It quit at once, and `phasegate run` then waited,
        blank, for the run's end."""
        found = [s for s in self.screen_stack if isinstance(s, DashboardScreen)]
        if not found:
            self.exit()
            return
        while self.screen is not found[-1]:
            self.pop_screen()
        found[-1].action_quit_run()

    async def on_unmount(self) -> None:
        if getattr(self, "_lag", None) is not None:
            self._lag.write()
        if self.store is not None:
            await self.store.close()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title != "Keys":  # ours lists every key (Textual's only the focused one's)
                yield command
        if isinstance(screen, DashboardScreen | BrowserScreen):  # (each lists its own keys)
            yield SystemCommand("Keys", "Show every key", screen.action_help)
        else:
            yield SystemCommand("Keys", "Show every key", lambda: self.push_screen(HelpScreen()))
        if isinstance(screen, DashboardScreen):
            for name, what, action in DASHBOARD_COMMANDS:
                yield SystemCommand(name, what, getattr(screen, f"action_{action}"))
        elif isinstance(screen, BrowserScreen):
            for name, what, action in BROWSER_COMMANDS:
                yield SystemCommand(name, what, getattr(screen, f"action_{action}"))


TERMINAL_CHECK = 1.0  # seconds between two checks that the dashboard's terminal is still there


def _terminal_here() -> bool:
    """Has this process a controlling terminal (gone once the terminal hangs up)?"""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True
