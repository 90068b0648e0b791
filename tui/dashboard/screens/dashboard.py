"""The dashboard of one run: header, phases, agents, tasks, risks; drained ten times a second."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input

from phasegate.engine.client import resumes
from phasegate.engine.client.policy import (
    may_answer_permission,
)
from phasegate.engine.model import commands as cmd
from phasegate.engine.model.identity import current_identity
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.prompts import Prompts
from phasegate.tui.dashboard.rights import OPERATING, may_note, may_steer
from phasegate.tui.dashboard.screens.engine_lost import EngineLostScreen
from phasegate.tui.dashboard.screens.gate import GatesScreen
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.screens.quit import QuitScreen
from phasegate.tui.dashboard.screens.risks import RisksScreen
from phasegate.tui.dashboard.screens.steering import Steering
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.agents import AgentRoster
from phasegate.tui.dashboard.widgets.footer import PALETTE, KeyFooter
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.output import OutputLog
from phasegate.tui.dashboard.widgets.phases import LINES as PHASE_LINES
from phasegate.tui.dashboard.widgets.phases import PhasePanel
from phasegate.tui.dashboard.widgets.risks import RiskFeed
from phasegate.tui.dashboard.widgets.tasks import TaskTable
from phasegate.tui.text import safe

DRAIN_EVERY = 0.1  # seconds: the feed is drained into one batched update ten times a second
WIDE = 140  # columns from which the selected task's output shows beside the task table
ROWS_LEAST = 4  # task rows a short terminal still shows: the panels around the table give way
RISK_LINES = 3  # the risk feed's height on a short terminal: its newest risk, in its border
# the panels on a terminal of fewer lines than 80x24's, the first that leaves the table
# ROWS_LEAST rows: (phases and agents shown, the risk feed's lines: 0 hidden, None as ever)
_SHORT = ((True, None), (True, RISK_LINES), (False, RISK_LINES), (False, 0))
_AROUND = 5  # lines about the table's rows: header, footer, the table's border and heading


def panels(height: int) -> tuple[bool, int | None]:
    """Which panels a terminal `height` lines high shows: phases and agents or not, and the
    risk feed's lines (None: its usual 5; 0: hidden). The table's rows come first, then the
    newest risk, then the phases and agents (the header keeps the counts and the times)."""
    for top, risks in _SHORT:
        left = height - _AROUND - (PHASE_LINES + 2 if top else 0) - (5 if risks is None else risks)
        if left >= ROWS_LEAST:
            return top, risks
    return _SHORT[-1]


class DashboardScreen(Steering):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="dashboard.help"),
        # (a run opened from the run browser, `phasegate ui`: back to the list of runs)
        Binding("escape", "back", "Back", id="dashboard.back"),
        # (short: fits 60 columns; priority: the box has the keys typed after `/` in one
        # burst, a paste or a fast typist; else the table, which had them queued, lost them)
        Binding("slash", "filter", "Find", id="dashboard.filter", priority=True),
        Binding("l", "logs", "Logs", id="dashboard.logs"),
        Binding("o", "sort", "Sort", id="dashboard.sort"),
        Binding("g", "gates", "Gates", id="dashboard.gates"),
        Binding("p", "pause", "Pause", id="dashboard.pause"),
        # (while the run is paused, or a phase is paused alone: as `phasegate resume RUN`)
        Binding("p", "resume_run", "Resume", id="dashboard.resume"),
        # the selected task's keys, offered where the engine takes them for its status (its
        # rules: engine/run/control.py); else the key says why not, asking nothing first
        Binding("R", "retry", "Retry", id="dashboard.retry"),
        # (priority, as `/`: the keys typed right after `s` or `n` are the box's text)
        Binding("s", "skip", "Skip", id="dashboard.skip", priority=True),
        Binding("x", "cancel_task", "Cancel", id="dashboard.cancel"),  # (the task)
        Binding("plus", "priority(1)", "Priority", key_display="+/-", id="dashboard.priority_up"),
        Binding("minus", "priority(-1)", "Priority down", show=False, id="dashboard.priority_down"),
        Binding("R", "refuse('retry')", "", show=False, id="dashboard.retry_refused"),
        Binding("s", "refuse('skip')", "", show=False, id="dashboard.skip_refused"),
        Binding("x", "refuse('cancel_task')", "", show=False, id="dashboard.cancel_refused"),
        Binding("plus", "refuse('priority')", "", show=False, id="dashboard.up_refused"),
        Binding("minus", "refuse('priority')", "", show=False, id="dashboard.down_refused"),
        Binding("n", "note", "Note", id="dashboard.note", priority=True),
        Binding("f", "follow", "Follow", id="dashboard.follow"),
        Binding("d", "detach", "Detach", id="dashboard.detach"),
        # (when the engine died: the offer again, after `esc` put it off)
        Binding("r", "take_over", "Take over", id="dashboard.take_over"),
        Binding("q", "quit_run", "Quit", id="dashboard.quit"),
        # (offered while a filter is typed or set: in a run opened from the browser, `esc`
        # clears it before it goes back)
        Binding("escape", "clear_filter", "Clear filter", id="dashboard.escape"),
    ]
    # what gives way in a footer too narrow for every key (80 columns: the keys of the selected
    # task come before these), first the palette's hint; `? Help` and `q Quit` always stay
    GIVE_WAY = (
        PALETTE,
        "follow",
        "priority",
        "note",
        "sort",
        "logs",
        "filter",
        "detach",
        "gates",
        "pause",
        "resume_run",
        "back",
        "take_over",
        "cancel_task",
        "skip",
        "retry",
    )
    DEFAULT_CSS = f"""
    DashboardScreen #top {{ height: auto; max-height: {PHASE_LINES + 2}; }}
    DashboardScreen PhasePanel {{ width: 1fr; }}
    DashboardScreen AgentRoster {{ width: 1fr; }}
    DashboardScreen #middle {{ height: 1fr; }}
    DashboardScreen #side {{ display: none; width: 1fr; }}
    DashboardScreen.wide #side {{ display: block; }}
    DashboardScreen.wide TaskTable {{ width: 80; }}
    DashboardScreen #filter {{ display: none; }}
    DashboardScreen.no-top #top {{ display: none; }}
    DashboardScreen.short-risks RiskFeed {{ height: {RISK_LINES}; }}
    DashboardScreen.no-risks RiskFeed {{ display: none; }}
    DashboardScreen #filter.visible {{ display: block; }}
    """

    def __init__(self, feed: RunFeed, browse_back: bool = False, viewer: str | None = None) -> None:
        super().__init__()
        self.feed = feed
        self.browse_back = browse_back
        self._draining = False
        self._alive = True
        self._steerable = True  # the run can be steered (the footer shows its keys)
        self._paused = False  # the run or a phase is paused: `p Resume` (else `p Pause`)
        self._may_steer = self._may_note = True  # the viewer may operate the run, add a note
        self._rights_asked: tuple[object, ...] = ()  # what they were last judged on
        self._offered = False  # the offer to take over a run whose engine died, made once
        self._may_take_over = True  # the viewer can take the run over (the database is theirs)
        self._offer: tuple[object, ...] = ()  # the selected task, its status, its phase's
        # whom this dashboard tells, and what it offers them (its OS user unless given)
        self._viewer = viewer if viewer is not None else current_identity().user
        self._prompts = Prompts(self, feed, self._viewer)  # gates, changes, questions, requests

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="top"):
            yield PhasePanel(id="phases")
            yield AgentRoster(id="agents")
        with Horizontal(id="middle"):
            yield TaskTable(self.feed.clock, id="tasks")
            yield OutputLog(self.feed, id="side")
        yield RiskFeed(id="risks")
        yield Input(placeholder="filter tasks: id, phase, agent or status", id="filter")
        yield KeyFooter(self.GIVE_WAY)

    async def on_mount(self) -> None:
        await self._check_engine()
        await self.drain()
        self._offer_if_dead()  # (a run interrupted before this dashboard opened)
        self.query_one(TaskTable).focus()
        self.set_interval(DRAIN_EVERY, self.drain)
        self.set_interval(1.0, self._tick)

    def on_resize(self) -> None:
        """Wide terminals show the selected task's output beside the table; below 80 columns
        the footer leaves out its `^p palette` (ctrl+p still opens it, `?` says so): drawn on
        top of the keys, it hid `Detach` and `Quit` and left a letter of them beside it. A
        short terminal (40x12) shows a few rows of the task table still: the risk feed shrinks
        to its newest risk, then the phases and agents give way, then the risk feed."""
        self.set_class(self.size.width >= WIDE, "wide")
        top, risks = panels(self.size.height)
        self.set_class(not top, "no-top")
        self.set_class(risks == RISK_LINES, "short-risks")
        self.set_class(risks == 0, "no-risks")
        self.query_one(Footer).show_command_palette = self.size.width >= 80

    @on(DataTable.RowHighlighted, "#tasks")
    def _highlighted(self) -> None:
        self._follow_selection()
        if self.has_class("wide"):
            self.query_one(OutputLog).follow(self.query_one(TaskTable).selected)

    async def drain(self) -> None:
        if self.has_class("wide") and self.is_current:
            side = self.query_one(OutputLog)
            if side.task_id is None:
                side.follow(self.query_one(TaskTable).selected)
            await side.poll()
        if self._draining:
            return
        self._draining = True
        try:
            changes = await self.feed.drain()
        finally:
            self._draining = False
        if not changes:
            return
        state, now = self.feed.state, self._now()
        if bool(resumes(state)) != self._paused:  # the footer's `p` follows
            self._paused = not self._paused
            self.refresh_bindings()
        self._follow_rights()
        with self.app.batch_update():
            self.query_one(RunHeader).show(state, self.feed.run_id, self._alive, now)
            if changes.phases:
                self.query_one(PhasePanel).show(state, now)
            if changes.agents:
                self._show_agents(now)
            if changes.tasks:
                self.query_one(TaskTable).refresh_tasks(state, changes.tasks, now)
            if changes.risks or changes.risks_cleared:
                self.query_one(RiskFeed).show(self.feed.risks, state)
                if isinstance(self.app.screen, RisksScreen):  # (the whole list, open: it too)
                    self.app.screen.show(self.feed.risks)
        self._follow_selection()
        self._prompts.news(changes)
        self._quit_if_ended()

    def _quit_if_ended(self) -> None:
        """A run that ends while `q` asks whether to stop it leaves nothing to stop or leave
        going: the dashboard closes, as `q` on an ended run does (the question stayed up, and
        `phasegate run` with it, until someone pressed a key)."""
        if self.feed.state.finished_at is None:
            return
        if any(isinstance(s, QuitScreen) for s in self.app.screen_stack):
            self.app.exit()

    def _follow_selection(self) -> None:
        """The footer's task keys follow the selected task: its status, its phase's."""
        state, tid = self.feed.state, self.query_one(TaskTable).selected
        t = state.tasks.get(tid) if tid is not None else None
        phase = state.phases.get(t.phase) if t is not None else None
        offer = (tid, t and t.status, phase and phase.status)
        if offer != self._offer:
            self._offer = offer
            self.refresh_bindings()

    def _show_agents(self, now: float) -> None:
        state = self.feed.state
        mine = {
            p.id
            for p in state.permissions.values()
            if may_answer_permission(state, p, self._viewer)  # (open ones only)
        }
        feed = self.feed
        self.query_one(AgentRoster).show(state, feed.last_output, now, mine, feed.last_line)

    def _now(self) -> float:
        """The screens' now; for a run whose engine is gone, its last sign of life (newest event
        or heartbeat): its times stop there, as `runs` and `show` say them, instead of growing
        with the clock."""
        now, state, row = self.feed.clock(), self.feed.state, self.feed.row
        seen = state.last_seen(row.heartbeat_at if row is not None else None)
        if self._alive or state.finished_at is not None or seen is None:
            return now
        return min(now, seen)

    async def _check_engine(self) -> None:
        from phasegate.engine.client import engine_alive

        row = await self.feed.refresh_row()
        self._alive = row is not None and engine_alive(row)
        steerable = self._alive and self.feed.state.finished_at is None
        if steerable != self._steerable:  # the footer's keys follow
            self._steerable = steerable
            self.refresh_bindings()
        self._offer_if_dead()

    def _offer_if_dead(self) -> None:
        """Every attached dashboard learns within a second or two that the engine died."""
        row, state = self.feed.row, self.feed.state
        if self._alive:
            self._offered = False
            lost = self.app.screen
            if isinstance(lost, EngineLostScreen) and lost.run_id == self.feed.run_id:
                lost.dismiss(None)  # taken over elsewhere (`phasegate resume`): nothing to offer
                self.app.notify(f"run {self.feed.run_id} was resumed: it goes on", timeout=6)
            return
        unfinished = row is not None and row.finished_at is None and state.finished_at is None
        if unfinished and state.events and not self._offered:
            self._offered = True
            self.refresh_bindings()  # (`r Take over`, once the offer is put off)
            self._offer_resume(row.engine_pid if row else None)

    def action_take_over(self) -> None:
        row = self.feed.row
        if self._offered and not self._alive and self.feed.state.finished_at is None:
            self._offer_resume(row.engine_pid if row else None)

    def _offer_resume(self, pid: int | None) -> None:
        """Say the engine died; offer `r` to a viewer who can take the run over (its
        database is theirs: the new engine writes it), else name who can."""
        import shlex

        from phasegate.engine.client import taker
        from phasegate.engine.model.errors import PhasegateError
        from phasegate.engine.model.statuses import TaskStatus
        from phasegate.tui.launch import take_over

        state, run_id, db_path = self.feed.state, self.feed.run_id, self.feed.store.path
        flying = [t.id for t in state.tasks.values() if t.status is TaskStatus.RUNNING]
        who = taker(db_path)
        if (who is None) != self._may_take_over:  # (`r Take over` in the footer follows)
            self._may_take_over = who is None
            self.refresh_bindings()
        if who is not None:  # (the engine would refuse the database: `r` would fail)
            who += " (the run's starter)" if who == state.user else " (the owner of its database)"
        how = f"phasegate resume {run_id} --db {shlex.quote(db_path)}"

        async def chosen(resume: bool | None) -> None:
            if not resume:
                return
            try:
                engine = await asyncio.to_thread(take_over, db_path, run_id)
            except (PhasegateError, OSError) as exc:  # (EngineDidNotStart: its log's tail)
                self.app.notify(safe(str(exc))[-300:], severity="error", timeout=10)
                return
            self.app.notify(f"run {run_id} taken over by a new engine (pid {engine.pid})")
            await self._check_engine()

        self.app.bell()
        self.app.push_screen(EngineLostScreen(run_id, pid, flying, who, how), chosen)

    def _follow_rights(self) -> None:
        """The footer follows what the viewer may do (known from the run's start; the run's
        end changes who may add a note). Asked again only when that changes: the roles may
        name groups, and a group's members are looked up in the system's user database."""
        state, viewer = self.feed.state, self._viewer
        asked = (state.user, tuple(state.operators), state.finished_at is None)
        if asked == self._rights_asked:
            return
        self._rights_asked = asked
        steer, note = may_steer(state, viewer), may_note(state, viewer, self.feed.store.path)
        if (steer, note) != (self._may_steer, self._may_note):
            self._may_steer, self._may_note = steer, note
            self.refresh_bindings()

    def allowed(self, action: str) -> bool:
        """Does the palette offer `action` now: may the viewer do it (`may`), and, for what
        steers the run (its keys' commands, slots, a phase's pause, an amendment), is there a
        live run's engine to take it? On an ended run they only said "nothing to steer"."""
        steers = action in self.STEERING or action in self.PALETTE_STEERING
        if steers and (self.feed.state.finished_at is not None or not self._alive):
            return False
        return self.may(action)

    def may(self, action: str) -> bool:
        """May the viewer do `action` on this run at all (whatever the run's state now)? An
        observer of a shared run may look, not steer: the engine would refuse it."""
        if action == "note":
            return self._may_note
        if action == "feedback":  # (only while the viewer's answers are asked)
            return self._prompts.asks()
        if action == "research":  # (a run that asked some)
            return bool(self.feed.state.research)
        return action not in OPERATING or self._may_steer

    async def _tick(self) -> None:
        await self._check_engine()
        state, now = self.feed.state, self._now()
        with self.app.batch_update():
            self.query_one(RunHeader).show(state, self.feed.run_id, self._alive, now)
            if state.finished_at is None:
                self.query_one(PhasePanel).show(state, now)
                self._show_agents(now)
                self.query_one(TaskTable).tick(state, now)
        self._quit_if_ended()

    def action_feedback(self) -> None:
        """Palette: the feedback form, while the viewer's answers are asked."""
        self._prompts.give_feedback()

    def action_research(self) -> None:
        """Palette: each research query's answers or error (`enter` on the phases too)."""
        self.query_one(PhasePanel).action_research()

    # -- actions --------------------------------------------------------------------------

    STEERING: ClassVar[frozenset[str]] = frozenset(
        {"pause", "resume_run", "skip", "cancel_task", "retry", "priority", "detach"}
    )
    TASK_KEYS: ClassVar[frozenset[str]] = frozenset({"skip", "cancel_task", "retry", "priority"})
    # the palette's commands that steer the run and have no key (palette.py)
    PALETTE_STEERING: ClassVar[frozenset[str]] = frozenset({"slots", "hold_phase", "amend"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers only what does something now: nothing the viewer may not do (an
        observer of a shared run), no pause, steering or detach once the run has ended or
        while no engine holds it (None: shown dimmed), nothing the engine would refuse for the
        selected task's status (its key then says why not: `refuse`)."""
        focused = self.focused
        if focused is not None and focused.id == "filter":  # typing a filter: keys are text
            return action == "clear_filter"  # (and `enter` applies it)
        if action in ("back", "clear_filter"):  # `esc`: the filter first, then back
            filtered = bool(self.query_one(TaskTable).filter_text)
            return filtered if action == "clear_filter" else self.browse_back and not filtered
        if action == "refuse":
            target = str(parameters[0])
            return self.may(target) and self.check_action(target, ()) is False
        if not self.may(action):
            return False
        steerable = self.feed.state.finished_at is None and self._alive
        if action in self.TASK_KEYS:
            return steerable and self._refused(action) is None
        if action == "note":  # (welcome after the end too; with no engine, `n` says why not)
            return True
        if action == "take_over":  # (only while no engine holds the unfinished run, and only
            # to a viewer who can take it over: not another user's shared run)
            dead = self._offered and not self._alive and self.feed.state.finished_at is None
            return dead and self._may_take_over
        if action in ("pause", "resume_run"):  # `p` says what it does now
            paused = bool(resumes(self.feed.state))  # (the run, or a phase paused alone)
            if paused != (action == "resume_run"):
                return False
        return steerable or action not in self.STEERING

    def on_risk_feed_opened(self, message: RiskFeed.Opened) -> None:
        self.app.push_screen(RisksScreen(message.risks, self.feed.state))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.value = self.query_one(TaskTable).filter_text
        # (at once, not after the keys already queued: `/` and a word typed in one burst, a
        # paste or a fast typist, went to the table, where `s` opened a skip)
        self.set_focus(box)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one(TaskTable).set_filter(event.value, self.feed.state)
        event.input.remove_class("visible")
        self.set_focus(self.query_one(TaskTable))
        self.refresh_bindings()  # (`esc Clear filter`, or not)

    @on(Input.Changed, "#filter")
    def _filter_live(self, event: Input.Changed) -> None:
        # (typed: at most every 0.1 s while keys come faster, the last text always applied)
        self.query_one(TaskTable).set_filter(event.value, self.feed.state, typed=True)

    def action_back(self) -> None:
        """`esc` in a run opened from the run browser: the filter cleared first, if one is
        set, else back to the list of runs (`q` quits, as in the browser)."""
        self.action_clear_filter()

    def action_follow(self) -> None:
        self.query_one(TaskTable).action_toggle_follow()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("visible") or self.query_one(TaskTable).filter_text:
            box.remove_class("visible")
            box.value = ""
            self.query_one(TaskTable).set_filter("", self.feed.state)
            self.set_focus(self.query_one(TaskTable))
            self.refresh_bindings()
        elif self.browse_back:
            self.app.pop_screen()

    def action_gates(self) -> None:
        self.app.push_screen(GatesScreen(self.feed))

    def action_sort(self) -> None:
        self.query_one(TaskTable).cycle_sort(self.feed.state)

    def action_logs(self) -> None:
        task = self.query_one(TaskTable).selected
        if task is not None:
            self.app.push_screen(TaskScreen(self.feed, task))

    @on(DataTable.RowSelected, "#tasks")
    def _open_task(self, event: DataTable.RowSelected) -> None:
        self.action_logs()

    def action_detach(self) -> None:
        """Close the dashboard and leave the run going (`phasegate attach` opens it again)."""
        self.app.exit("detached")

    def action_quit_run(self) -> None:
        active = self.feed.state.finished_at is None and self._alive
        if not active:
            self.app.exit()
            return

        async def decided(choice: str | None) -> None:
            if choice == "stop":
                who = current_identity().user
                why = await self.feed.send(cmd.Cancel(f"stopped from the dashboard by {who}"))
                if why is not None:
                    self.app.notify(safe(why), severity="error", timeout=6)
                    return
                self.app.exit("stopped")
            elif choice == "leave":
                self.app.exit("left")

        self.app.push_screen(QuitScreen(stop=self._may_steer), decided)
