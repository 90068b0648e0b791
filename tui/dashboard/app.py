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
        self,
        db_path: str,
        run_id: str | None = None,
        clock: Callable[[], float] = time.time,
        viewer: str | None = None,
    ) -> None:
        """`viewer`: whose dashboard it is (what it offers and whom it prompts: the policy's
        user); this process's OS user unless given (tests view a recorded run as its starter)."""
        super().__init__()
        use_colour(not self.no_color)  # (Textual reads NO_COLOR: `--color never` sets it)
        self.db_path = db_path
        self.run_id = run_id
        self.clock = clock
        self.viewer = viewer
        self.store: SQLiteStore | None = None
        self._terminal = Terminal(False, ())  # (read at mount: a test's app has none)

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
        if not self.is_headless:
            self._terminal = Terminal.at_start()
            if self._terminal.watched():
                self.set_interval(TERMINAL_CHECK, self._terminal_check)
        self.store = await SQLiteStore.open(self.db_path)
        if self.run_id is not None:
            feed = RunFeed(self.store, self.run_id, self.clock)
            await self.push_screen(DashboardScreen(feed, viewer=self.viewer))
        else:
            await self.push_screen(BrowserScreen(self.store, self.clock))

    def _terminal_check(self) -> None:
        """A terminal that went away without a SIGHUP (the dashboard run through su, runuser or
        setsid when its SSH session or tmux pane closed) leaves its reads at end-of-file at
        once: leave then, as on a hang-up (the run goes on), instead of spinning."""
        if self._terminal.gone():
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
                if screen.allowed(action):  # (an observer's palette: nothing to steer with)
                    yield SystemCommand(name, what, getattr(screen, f"action_{action}"))
        elif isinstance(screen, BrowserScreen):
            for name, what, action in BROWSER_COMMANDS:
                yield SystemCommand(name, what, getattr(screen, f"action_{action}"))


TERMINAL_CHECK = 1.0  # seconds between two checks that the dashboard's terminal is still there
STREAMS = (0, 1, 2)  # stdin (Textual reads keys there), stdout, stderr (it draws there)


class Terminal:
    """The terminal the dashboard was started in, as far as this process can tell it went away:
    its controlling terminal (none under `su -c` or `setsid`: they start a new session) and the
    standard streams that were a terminal at start (a hung-up terminal is no longer one: its
    ioctls fail). Either gone means the dashboard's terminal is gone."""

    def __init__(self, controlling: bool, streams: tuple[int, ...]) -> None:
        self.controlling = controlling
        self.streams = streams

    @classmethod
    def at_start(cls) -> Terminal:
        return cls(_controlling_terminal(), tuple(fd for fd in STREAMS if _is_terminal(fd)))

    def watched(self) -> bool:
        """Is there anything to watch (no terminal at all: a test's, or output to a file)?"""
        return self.controlling or bool(self.streams)

    def gone(self) -> bool:
        if self.controlling and not _controlling_terminal():
            return True
        return any(not _is_terminal(fd) for fd in self.streams)


def _is_terminal(fd: int) -> bool:
    """Is `fd` open on a terminal that is still there (False once it hung up, or closed)?"""
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _controlling_terminal() -> bool:
    """Has this process a controlling terminal (gone once the terminal hangs up)?"""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True
