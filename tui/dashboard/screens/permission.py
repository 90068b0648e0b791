"""The permission prompt: a coding agent asks to use a tool (a allow once, A for the task, r deny
with a message the agent reads, each confirmed by ctrl+s; esc later; `g` lists the requests
still open)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from phasegate.engine.model.commands import Approve, Reject
from phasegate.engine.model.state import PermissionState
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.ask import ReasonPrompt
from phasegate.tui.text import safe, when


def request(state: PermissionState, agent: str | None) -> Table:
    """What the agent asks, every field the agent wrote made inert (escapes shown, markup
    plain text): the request's task, tool, what the tool would do and the agent's reason."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    by = f" · agent {safe(agent)}" if agent else ""
    grid.add_row("task", Text(f"{safe(state.task)} · attempt {state.attempt}{by}"))
    grid.add_row("tool", Text(safe(state.tool), style="bold"))
    grid.add_row("what", Text(safe(state.detail) or "-"))
    grid.add_row("why", Text(safe(state.reason) or "-"))
    who = ", ".join(state.approvers) or "who may operate the run"
    grid.add_row("asked", Text(f"{when(state.asked_at)} · answers: {safe(who)}"))
    return grid


class PermissionPrompt(ReasonPrompt):
    NEEDS_REASON = "a denial needs a message for the agent"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "allow", "Allow once", id="permission.allow"),
        Binding("A", "allow_task", "Allow for the task", id="permission.allow_task"),
        Binding("r", "deny", "Deny", id="permission.deny"),
        Binding("escape", "close", "Later", id="permission.close"),
    ]
    # the box stays inside the screen whatever the terminal's height: the request scrolls in
    # the rows the rest of the box leaves it (`fit`)
    DEFAULT_CSS = """
    PermissionPrompt { align: center middle; }
    PermissionPrompt > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1; }
    PermissionPrompt VerticalScroll { height: auto; max-height: 15; }
    """

    def __init__(self, feed: RunFeed, permission: str) -> None:
        super().__init__()
        self.feed = feed
        self.permission = permission

    def compose(self) -> ComposeResult:
        p = self.feed.state.permissions[self.permission]
        task = self.feed.state.tasks.get(p.task)
        with Vertical() as box:
            box.border_title = "A coding agent asks to use a tool"
            box.border_subtitle = "a allow once · A for the task · r deny · esc later"
            yield Static(Text("Its task waits until someone answers."))
            # a long command scrolls (↑ ↓) rather than being cut: all of it is what is allowed
            with VerticalScroll():
                yield Static(request(p, task.agent if task else None), id="request")
            yield from self.confirming()

    def action_allow(self) -> None:
        """`a` (and `A`) ask to confirm (ctrl+s): a stray `a` never allows a tool."""
        if not self.asking:
            self.confirm(self.allow_once, f"allow {self._what()} once")

    def action_allow_task(self) -> None:
        if not self.asking:
            doing = f"allow {self._what()} for the rest of the task"
            self.confirm(self.allow_for_task, doing)

    async def allow_once(self, _: str) -> None:
        await self.allow("")

    async def allow_for_task(self, _: str) -> None:
        await self.allow("task")

    async def allow(self, scope: str) -> None:
        why = await self.feed.send(Approve(self.permission, scope=scope))
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6, markup=False)
            return
        more = " (and this tool for the rest of the task)" if scope else ""
        self.app.notify(f"allowed: {self._what()}{more}", timeout=3, markup=False)

    def action_deny(self) -> None:
        if not self.asking:
            placeholder = f"why deny it? the agent reads this ({self.SEND} sends)"
            self.confirm(self.deny, f"deny {self._what()}", "required", placeholder=placeholder)

    async def deny(self, reason: str) -> None:
        why = await self.feed.send(Reject(self.permission, reason))
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6, markup=False)
            return
        self.app.notify(f"denied: {self._what()}", timeout=3, markup=False)

    def _what(self) -> str:
        p = self.feed.state.permissions[self.permission]
        return f"{safe(p.tool)} for task {safe(p.task)}"
