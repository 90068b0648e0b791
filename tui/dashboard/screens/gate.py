"""The gate prompt (a approve, r reject with a reason, each confirmed by ctrl+s; esc close) and
the gates view (g), which lists the coding agents' open permission requests too."""

from __future__ import annotations

import os
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from phasegate.engine.client.policy import (
    gate_deciders,
    may_answer_permission,
    may_decide_change,
    may_decide_gate,
)
from phasegate.engine.model.commands import Approve, Reject
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import GateState, PermissionState, RunState
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.ask import ReasonPrompt
from phasegate.tui.dashboard.screens.permission import PermissionPrompt
from phasegate.tui.dashboard.widgets.footer import SteadyFooter
from phasegate.tui.dashboard.widgets.phases import gate_label
from phasegate.tui.dashboard.widgets.style import GATE_STYLE
from phasegate.tui.text import safe, when


def evidence(g: GateState) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for c in g.criteria:
        mark = Text("✓", style="green") if c.get("passed") else Text("✗", style="bold red")
        grid.add_row(
            mark, Text(f"{c.get('kind')} {safe(str(c.get('spec')))}: {safe(str(c.get('detail')))}")
        )
    if not g.criteria:
        grid.add_row(Text("·"), Text("no criteria"))
    return grid


def who_decides(state: RunState, gate: GateState, viewer: str) -> tuple[str, str]:
    """Who may decide `gate`, in words said to `viewer` (plain text), and why someone is left
    out ("" when nobody is): its approvers, `anyone` when it names none; less the run's starter
    when it forbids self-approval (`habob, hacarol`, `members of hateam but you`, with `you
    started the run: the gate forbids self-approval`), as the engine's policy judges it."""
    listed, left_out = gate_deciders(state, gate)
    if not left_out:
        return ", ".join(a for a, _ in listed) or "anyone", ""
    you = viewer == left_out
    but = " but you" if you else f" but {left_out}"
    names = [f"members of {a[6:]}{but}" if less else a for a, less in listed]
    if not gate.approvers:
        names = [f"anyone{but}"]
    why = "you started the run" if you else f"{left_out} started the run"
    return ", ".join(names) or "nobody", f"{why}: the gate forbids self-approval"


SUBTITLE = "a approve · r reject · esc close"
LOOKING = "esc close · you may not decide it"


class GatePrompt(ReasonPrompt):
    """A gate waiting for a decision: `a` and `r` ask to confirm, ctrl+s sends (ReasonPrompt);
    `deciding` False (opened from `g` by someone who is not among its approvers): the gate
    shown, read-only, saying who may decide it."""

    NEEDS_REASON = "a rejection needs a reason"
    NOUN = "gate"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve", id="gate.approve"),
        Binding("r", "reject", "Reject", id="gate.reject"),
        Binding("escape", "close", "Close", id="gate.close"),
    ]
    DEFAULT_CSS = """
    GatePrompt { align: center middle; }
    GatePrompt > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1; }
    GatePrompt VerticalScroll { height: auto; max-height: 15; }
    """
    # (its head: up to 4 lines above the evidence, which scrolls in the rows left: `fit`)
    AROUND = 2 + 2 + 4 + 1 + 3

    def __init__(self, feed: RunFeed, gate: str, deciding: bool = True) -> None:
        super().__init__()
        self.feed = feed
        self.gate = gate
        self.deciding = deciding

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Who may not decide the gate is offered no decision (the engine would refuse it)."""
        return self.deciding or action not in ("approve", "reject", "send")

    def deciders(self) -> str:
        """Who may decide it, in words (said to this dashboard's user)."""
        state, me = self.feed.state, current_identity().user
        who, why = who_decides(state, state.gates[self.gate], me)
        only = "" if who.startswith("anyone") else "only "
        return f"{only}{who} may decide it" + (f" ({why})" if why else "")

    def head(self) -> Text:
        """The gate's attempt, its approvals so far (of its quorum), who may approve."""
        g = self.feed.state.gates[self.gate]
        head = Text()
        head.append(f"after phase {safe(g.after)} · attempt {g.attempt} · ")
        head.append(f"approvals {len(g.approved_by)}/{g.quorum}")
        if g.approved_by:  # (quorum > 1: who approved already, in this or another dashboard)
            head.append(f" ({safe(', '.join(g.approved_by))})")
        who = ", ".join(g.approvers) or "anyone"
        head.append(f"\napprovers: {safe(who)} · evidence {g.evidence_hash[:12]}")
        if not self.deciding:
            head.append(f"\n{safe(self.deciders())}", style="bold")
        failed = sum(1 for c in g.criteria if not c.get("passed"))
        if failed:  # (a manual gate asks people even so: say what approving means)
            head.append(
                f"\n{failed} of {len(g.criteria)} criteria failed: approving passes the gate "
                "all the same",
                style="bold red",
            )
        return head

    def voted(self) -> None:
        """A vote arrived (given here, in another dashboard or from the command line): the
        approvals shown follow, while the prompt stays open for the quorum's rest."""
        if self.is_mounted:
            self.query_one("#head", Static).update(self.head())

    def heading(self) -> str:
        if self.deciding:
            return f"Gate {safe(self.gate)} waits for a decision"
        return f"Gate {safe(self.gate)} waits for its approvers"

    def compose(self) -> ComposeResult:
        g = self.feed.state.gates[self.gate]
        with Vertical() as box:
            box.border_title = self.heading()
            box.border_subtitle = SUBTITLE if self.deciding else LOOKING
            yield Static(self.head(), id="head")
            with VerticalScroll():  # (many criteria scroll: the keys and reason line stay)
                yield Static(evidence(g))
            yield from self.confirming()

    async def action_approve(self) -> None:
        """`a` asks to confirm, with an optional reason (ctrl+s approves, esc goes back), so
        that a stray `a`, or a word and enter, never approves; PHASEGATE_QUICK_APPROVE=1
        approves at once."""
        if self.asking:
            return
        if os.environ.get("PHASEGATE_QUICK_APPROVE", "") in ("1", "yes", "true"):
            await self.approve("")
            self.dismiss()
            return
        self.confirm(
            self.approve,
            f"approve {self.NOUN} {self.gate}",
            "optional",
            placeholder=f"a reason if you like; {self.SEND} approves",
        )

    async def approve(self, reason: str) -> None:
        why = await self.feed.send(Approve(self.gate, reason))
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6)
            return
        self.app.notify(f"approval of {self.NOUN} {self.gate} sent", timeout=3)

    def action_reject(self) -> None:
        if self.asking:
            return
        self.confirm(
            self.reject,
            f"reject {self.NOUN} {self.gate}",
            "required",
            placeholder=f"why do you reject it? ({self.SEND} sends)",
        )

    async def reject(self, reason: str) -> None:
        why = await self.feed.send(Reject(self.gate, reason))
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6)
            return
        self.app.notify(f"rejection of {self.NOUN} {self.gate} sent", timeout=3)


class GatesScreen(ModalScreen[None]):
    """Pending and decided gates of the run, then the agents' open permission requests (when
    there are some); enter opens the prompt of an open one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,g,q", "close", "Close", id="gates.close"),
    ]
    DEFAULT_CSS = """
    GatesScreen { align: center middle; }
    GatesScreen > Vertical { width: 78; max-width: 100%; height: auto; max-height: 20;
        border: round $accent; background: $surface; }
    GatesScreen DataTable { height: auto; max-height: 16; }
    GatesScreen #permissions { max-height: 8; border-top: solid $accent; }
    GatesScreen.asking #gates { max-height: 8; }
    """

    def __init__(self, feed: RunFeed) -> None:
        super().__init__()
        self.feed = feed

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Gates"
            box.border_subtitle = "enter: decide an open gate, or read a decided one's reason · esc"
            yield DataTable(cursor_type="row", id="gates")
            if self._asking():
                box.border_title = "Gates and agents' permission requests"
                box.border_subtitle = "enter: answer an open one · tab: next table · esc close"
                self.add_class("asking")  # (both tables share the box's height)
                yield DataTable(cursor_type="row", id="permissions")
        yield SteadyFooter(compact=True)

    def _asking(self) -> list[PermissionState]:
        return [p for p in self.feed.state.permissions.values() if p.status == "open"]

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        state = self.feed.state
        gates, changes = list(state.gates.values()), list(state.changes.values())
        ids = [*state.gates, *state.changes] or ["no gates"]  # (the row that says so, whole)
        afters = [g.after for g in gates] + (["the plan"] if changes else [])
        reasons = [g.reason for g in gates] + [c.reason for c in changes]
        needs = [max((len(safe(x)) for x in cells), default=0) for cells in (ids, afters, reasons)]
        gate, after, why = _share(SHARED, needs)
        for name, width in (
            # 64 columns of cells + 12 of padding fit the 78-column box
            ("gate", gate),
            ("after", after),
            ("status", 11),  # (`not decided`, `not reached`: as the phase panel says)
            ("ok", 4),
            ("opened", 11),
            ("why", why),
        ):
            table.add_column(name.upper(), width=width, key=name)
        ended = state.finished_at is not None
        for g in gates:
            table.add_row(
                _cut(g.id),
                _cut(g.after),
                _status(g, ended),
                f"{len(g.approved_by)}/{g.quorum}" if g.approval == "manual" else "auto",
                when(g.opened_at, short=True),
                _cut(g.reason),
                key=g.id,
            )
        for c in changes:  # (amendments at their change gate)
            table.add_row(
                _cut(c.id),
                "the plan",
                Text(c.status.value, style=GATE_STYLE.get(c.status.value, "")),
                f"{len(c.approved_by)}/1",
                when(c.opened_at, short=True),
                _cut(c.reason),
                key=c.id,
            )
        if not self.feed.state.gates and not self.feed.state.changes:
            table.add_row("no gates", "", "", "", "", "")
        table.focus()
        asking = self._asking()
        if not asking:
            return
        requests = self.query_one("#permissions", DataTable)
        # 68 columns of cells + 8 of padding fit the box too; the prompt shows all of it
        for name, width in (("asking task", 16), ("tool", 10), ("wants to", 31), ("asked", 11)):
            requests.add_column(name.upper(), width=width, key=name)
        for p in asking:
            wants = " ".join(safe(p.detail).split())  # one line here
            requests.add_row(
                _cut(p.task),
                _cut(p.tool),
                _cut(wants),  # (safe already: `safe` twice is the same)
                when(p.asked_at, short=True),
                key=p.id,
            )
        if not any(g.status == "open" for g in self.feed.state.gates.values()):
            requests.focus()  # what waits is a request: enter answers it

    @on(DataTable.RowSelected, "#gates")
    def _open(self, event: DataTable.RowSelected) -> None:
        gate = event.row_key.value
        change = self.feed.state.changes.get(str(gate))
        me = current_identity().user  # (who may decide it is offered a and r; others look)
        if change is not None and change.status.value == "open":
            deciding = may_decide_change(self.feed.state, change, me)
            self.app.switch_screen(ChangePrompt(self.feed, str(gate), deciding))
            return
        found = self.feed.state.gates.get(str(gate))
        ended = self.feed.state.finished_at is not None
        if found is not None and found.status == "open" and not ended:
            deciding = may_decide_gate(self.feed.state, found, me)
            self.app.switch_screen(GatePrompt(self.feed, str(gate), deciding))
        elif found is not None and found.status == "open":  # (the run stopped while it waited)
            why = safe(self.feed.state.reason) or "the run ended"
            self.app.notify(f"gate {safe(found.id)} not decided: {why}", timeout=15, markup=False)
        elif found is not None and found.reason:  # (the table cuts it: here it is whole)
            text = f"gate {safe(found.id)} {found.status}: {safe(found.reason)}"
            self.app.notify(text, timeout=15, markup=False)

    @on(DataTable.RowSelected, "#permissions")
    def _answer(self, event: DataTable.RowSelected) -> None:
        pid = str(event.row_key.value)
        p = self.feed.state.permissions.get(pid)
        if p is None or p.status != "open":
            self.app.notify(f"permission {safe(pid)} is answered already", timeout=4, markup=False)
        elif may_answer_permission(self.feed.state, p, current_identity().user):
            self.app.switch_screen(PermissionPrompt(self.feed, pid))
        else:
            who = safe(", ".join(p.approvers) or "who may operate the run")
            self.app.notify(f"permission {safe(pid)} waits for {who}", timeout=6, markup=False)

    def action_close(self) -> None:
        self.dismiss()


class ChangePrompt(GatePrompt):
    """A change gate (`phasegate amend`): the amendment's difference and its impact on the
    forecast, approved (confirmed, a reason if you like) or rejected (with a reason) as a gate."""

    NOUN = "change"

    def deciders(self) -> str:
        change = self.feed.state.changes[self.gate]
        who = ", ".join(change.approvers) or f"the run's starter ({self.feed.state.user})"
        return f"only {who} may decide it"

    def head(self) -> Text:
        change = self.feed.state.changes[self.gate]
        who = ", ".join(change.approvers) or "the run's starter"
        head = Text(f"proposed by {safe(change.by)} · approvers: {safe(who)}")
        if change.restart:
            head.append(f"\nrestarts: {safe(', '.join(change.restart))}")
        if not self.deciding:
            head.append(f"\n{safe(self.deciders())}", style="bold")
        return head

    def heading(self) -> str:
        if self.deciding:
            return f"Change {safe(self.gate)} to the plan waits for a decision"
        return f"Change {safe(self.gate)} to the plan waits for its approvers"

    def compose(self) -> ComposeResult:
        # (here: they bring the plan model, which the dashboard's start-up does without)
        from phasegate.engine.client.plans import change_lines, impact_lines

        change = self.feed.state.changes[self.gate]
        said = [*change_lines(list(change.diff)), *impact_lines(change.impact)]
        lines = Text("\n".join(safe(x) for x in said))
        with Vertical() as box:
            box.border_title = self.heading()
            box.border_subtitle = SUBTITLE if self.deciding else LOOKING
            yield Static(self.head(), id="head")
            with VerticalScroll():  # (a long difference scrolls)
                yield Static(lines)
            yield from self.confirming()


SHARED = 38  # the columns of the gates' table shared by gate, after and why (64 less the rest)
FLOORS = (4, 5, 3)  # what each of those keeps at the least: its heading


def _share(room: int, needs: list[int]) -> list[int]:
    """Widths for the gate, after and why columns out of `room`: each its heading first, then
    each in that order what it needs (a gate's name before its phase, both before the reason,
    which `enter` shows whole); what is left widens the reason."""
    widths = list(FLOORS)
    left = room - sum(widths)
    for i, need in enumerate(needs):
        more = min(left, max(0, need - widths[i]))
        widths[i] += more
        left -= more
    widths[-1] += left
    return widths


def _cut(value: str) -> Text:
    """A cell's text, cut with an ellipsis where its column is narrower (never clipped bare)."""
    return Text(safe(value), no_wrap=True, overflow="ellipsis")


def _status(g: GateState, run_ended: bool) -> Text:
    """The gate's status word, as the phase panel says it (`gate_label`): `pending` until its
    phase ends (it said `waiting`, the engine's word, while the panel said `pending`), `not
    reached` / `not decided` for a gate an ended run never reached or left waiting for people;
    a gate waiting for a decision is `open`, as `gates` says and `enter` decides."""
    if g.status == "open" and not run_ended:
        return Text("open", style=GATE_STYLE.get("open", ""))
    return gate_label(g, run_ended)
