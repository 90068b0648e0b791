"""What a dashboard is asked to decide, and told: gates that open, amendments at their change
gate, risk rules that ask, coding agents' tool requests and the plan's feedback questions
prompt those who may answer (ringing the bell once each); the others are told whom it waits
for; an answer given anywhere closes the prompt. A prompt never opens over a line being typed
(the task filter): a notice says what waits, and the prompt opens once the line is left, so
that keys meant for it are never answers. A part of the dashboard's screen, fed by each drain."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.widgets import Input

from phasegate.engine.client.feedback import prompted
from phasegate.engine.client.policy import (
    may_answer_permission,
    may_answer_question,
    may_decide_change,
    may_decide_gate,
)
from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.screens.feedback import FeedbackPrompt
from phasegate.tui.dashboard.screens.gate import ChangePrompt, GatePrompt, who_decides
from phasegate.tui.dashboard.screens.permission import PermissionPrompt
from phasegate.tui.dashboard.screens.question import QuestionPrompt
from phasegate.tui.text import one_line, safe

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

    from phasegate.tui.dashboard.feed import Changes, RunFeed


class Prompts:
    """The prompts of one dashboard screen (`screen`: where they open, when it is the one on
    top; else a notification says it), for the OS user `viewer`."""

    def __init__(self, screen: Screen[None], feed: RunFeed, viewer: str) -> None:
        self._screen, self._feed, self._viewer = screen, feed, viewer
        self._rung: set[tuple[str, ...]] = set()  # gate attempts, questions, requests told
        self._read_back = False  # the first drain (the run's past) is done: what comes is news
        self._later: list[str] = []  # requests told while another screen was on top
        self._feedback_later = False  # the feedback form, asked while another screen was on top
        self._back = False  # told when the dashboard is on top again
        # prompts put off while a line was typed on the dashboard, each with whether it
        # still waits: they open once no line has the focus
        self._waiting: list[tuple[Callable[[], Screen[Any]], Callable[[], bool]]] = []
        self._watching = False

    @property
    def _app(self) -> App[Any]:
        return self._screen.app

    def _on_top(self) -> bool:
        """A prompt opens over the dashboard itself, not over another screen of it (help, a
        task's pane, another prompt): there, a notification says it."""
        return self._app.screen is self._screen

    def _typing(self) -> bool:
        """Is a line being typed on the dashboard (its filter has the focus)? Its keys are
        meant for it: a prompt that opened would take them as answers."""
        return isinstance(self._screen.focused, Input)

    def _free(self) -> bool:
        """May a prompt open now: the dashboard on top, and no line of it being typed."""
        return self._on_top() and not self._typing()

    def news(self, changes: Changes) -> None:
        """What a drain found that prompts or closes a prompt."""
        self._gates(changes.gates_opened, changes.answers, changes.gates_closed)
        self._changes(changes.changes_opened, changes.changes_closed)
        self._question(changes.asked, changes.answered)
        self._permissions(changes.permissions_asked, changes.permissions_answered)
        self._feedback()
        self._read_back = True  # (what the first drain read is the run's past: history)

    def _feedback(self) -> None:
        """The plan's feedback questions, once asked (the run ended, or its gate opened),
        prompt the dashboards of those asked who have not answered (the bell rings once).
        Asked while another screen is on top (the prompt of the gate that asks them, opened
        by the same drain; help), the form opens once the dashboard is on top again."""
        state = self._feed.state
        if not prompted(state, self._viewer) or not self._ring_once("feedback"):
            return
        how = f"phasegate feedback {self._feed.run_id} --rating N"
        if not self._on_top():
            self._feedback_later = True
            self._watch_screens()
            how = f"its form opens once you close this ({how})"
        self._ask(partial(FeedbackPrompt, self._feed), "your feedback is asked", how, self.asks)

    def asks(self) -> bool:
        """Are the viewer's feedback answers asked now (and not given yet)?"""
        return prompted(self._feed.state, self._viewer)

    def give_feedback(self) -> None:
        """Open the feedback form (the palette's "Give feedback", while it `asks`)."""
        self._feedback_later = False
        if self.asks():
            self._app.push_screen(FeedbackPrompt(self._feed))

    def _watch_screens(self) -> None:
        """Be told when the dashboard is on top again (a prompt or screen over it closed)."""
        if not self._back:
            self._back = True
            self._app.screen_change_signal.subscribe(self._screen, self._screen_changed)

    def _screen_changed(self, screen: Screen[Any]) -> None:
        if screen is self._screen:
            self._app.call_later(self._reopen)

    def _reopen(self) -> None:
        """The dashboard is on top again: the prompts told meanwhile open (one at a time): an
        agent's request, then the feedback form; over a line being typed, once it is left."""
        self._next_request()
        if not self._feedback_later or not self._on_top():
            return
        self._feedback_later = False
        if not self.asks():
            return
        if self._typing():
            self._waiting.append((partial(FeedbackPrompt, self._feed), self.asks))
            self._watch_focus()
        else:
            self._app.push_screen(FeedbackPrompt(self._feed))

    def _permissions(self, asked: list[str], answered: Sequence[ev.PermissionAnswered]) -> None:
        """A coding agent's request to use a tool prompts the dashboards of those who may
        answer it (and rings the bell once per request); nobody else is disturbed: the roster
        shows the agent waiting. Answered elsewhere (another dashboard, `phasegate approve`, a
        timeout, the task ending), its prompt closes."""
        for done in answered:
            screen = self._app.screen
            if isinstance(screen, PermissionPrompt) and screen.permission == done.id:
                screen.dismiss()
                verb = "allowed" if done.allowed else "denied"
                self._app.notify(
                    f"permission {safe(done.id)} {verb} by {safe(done.by)}", timeout=6, markup=False
                )
        state = self._feed.state
        for pid in asked:
            p = state.permissions.get(pid)
            if p is None or not may_answer_permission(state, p, self._viewer):
                continue
            if not self._ring_once("permission", pid):
                continue
            if not self._on_top():  # (its prompt opens once the dashboard is on top again)
                self._later.append(pid)
                self._watch_screens()
            what = f"task {safe(p.task)} asks to use {safe(p.tool)}"
            still = partial(self._still_asks, pid)
            self._ask(partial(PermissionPrompt, self._feed, pid), what, "press g", still)
        self._next_request()

    def _still_asks(self, pid: str) -> bool:
        p = self._feed.state.permissions.get(pid)
        return p is not None and p.status == "open"

    def _next_request(self) -> None:
        """A request that came while another prompt (or screen) was on top: its prompt opens
        once the dashboard is on top again, if it still waits (one at a time)."""
        state = self._feed.state
        while self._later and self._free():
            pid = self._later.pop(0)
            p = state.permissions.get(pid)
            if p is not None and p.status == "open":
                self._app.push_screen(PermissionPrompt(self._feed, pid))

    def _question(self, asked: bool, answered: bool) -> None:
        """A risk rule that asks prompts every attached dashboard, like a gate; the run going on
        or ending (answered here, elsewhere or from the command line) closes the prompt."""
        screen = self._app.screen
        if answered and isinstance(screen, QuestionPrompt):
            screen.dismiss()
        state = self._feed.state
        if not asked or not state.question or state.finished_at is not None:
            return
        asking = ("question", str(state.question.get("risk")), str(state.question.get("at")))
        if not may_answer_question(state, self._viewer) or not self._ring_once(*asking):
            return
        question = dict(state.question)

        def still() -> bool:
            now = self._feed.state
            return now.finished_at is None and now.question == question

        what = "a risk rule asks whether to go on"
        self._ask(partial(QuestionPrompt, self._feed), what, "p resumes the run", still)

    def _gates(
        self, opened: list[str], answers: list[ev.Event], closed: Sequence[ev.GateClosed] = ()
    ) -> None:
        """A gate that opens prompts every attached dashboard of a person who may decide it
        (and rings the bell, once per attempt of the gate); the others are told whom it waits
        for. A gate decided (here or in another dashboard, or from the command line) closes
        its prompt."""
        for done in closed:
            self._close(GatePrompt, done.gate, f"gate {done.gate} {done.outcome}")
        state, screen = self._feed.state, self._app.screen
        if state.finished_at is not None and isinstance(screen, GatePrompt):
            # the run stopped while it waited: no one can decide it now (nor is it rejected)
            why = state.reason or f"the run {state.status.value}"
            self._close(type(screen), screen.gate, f"{screen.gate} not decided: {why}")
        voted = {a.gate for a in answers if isinstance(a, ev.GateVoted)}
        for prompt in self._app.screen_stack:  # (open, maybe under another screen: help)
            if isinstance(prompt, GatePrompt) and prompt.gate in voted:
                prompt.voted()
        me = os.getuid()
        # a refusal is told to whoever sent it, not every dashboard; the screen of this one
        # that sent a command has told its answer already
        told = self._feed.told
        for answer in answers:
            if isinstance(answer, ev.GateRefused) and answer.uid in (me, -1):
                if answer.command not in told:
                    why = safe(f"{answer.user}: {answer.why}")
                    self._app.notify(why, severity="warning", timeout=6)
            elif isinstance(answer, ev.CommandDone) and answer.command not in told:
                if answer.ok:  # (someone else's, or this user's from elsewhere: who did it)
                    who = f"{answer.by}: " if answer.by and answer.uid != me else ""
                    self._app.notify(safe(who + answer.message), timeout=4)
                elif answer.uid in (me, -1):
                    self._app.notify(safe(answer.message), severity="warning", timeout=4)
        for gate in opened:
            g = self._feed.state.gates.get(gate)
            if g is None or g.status != "open" or self._feed.state.finished_at is not None:
                continue
            if not self._ring_once("gate", gate, str(g.attempt)):
                continue
            if not may_decide_gate(self._feed.state, g, self._viewer):
                who, why = who_decides(self._feed.state, g, self._viewer)
                said = f"gate {gate} waits for {who}" + (f" ({why})" if why else "")
                self._app.notify(safe(said), timeout=8, markup=False)
                continue
            what = f"gate {safe(gate)} waits for a decision"
            still = partial(self._gate_open, gate)
            self._ask(partial(GatePrompt, self._feed, gate), what, "press g", still)

    def _changes(self, opened: list[str], closed: Sequence[ev.ChangeClosed]) -> None:
        """An amendment at its change gate prompts (and rings for) those who may decide it,
        with its difference and impact; decided anywhere, its prompt closes."""
        for done in closed:
            self._close(ChangePrompt, done.change, f"change {done.change} {done.outcome}")
            if done.outcome == "refused" and self._read_back:
                # (approved once the run had moved on: the approver's toast said it was sent)
                said = f"change {done.change} not applied: {one_line(done.reason)}"
                self._app.notify(said, severity="error", timeout=10, markup=False)
        for cid in opened:
            change = self._feed.state.changes.get(cid)
            # (decided since, or read back by a dashboard opened after: history, not news)
            if change is None or change.status != "open" or self._feed.state.finished_at:
                continue
            if not self._ring_once("change", cid):
                continue
            if not may_decide_change(self._feed.state, change, self._viewer):
                self._app.notify(
                    f"change {safe(cid)} to the plan waits for its approvers", timeout=8
                )
                continue
            what = f"change {safe(cid)} to the plan waits for a decision"
            still = partial(self._change_open, cid)
            self._ask(partial(ChangePrompt, self._feed, cid), what, "press g", still)

    def _gate_open(self, gate: str) -> bool:
        g = self._feed.state.gates.get(gate)
        return g is not None and g.status == "open" and self._feed.state.finished_at is None

    def _change_open(self, cid: str) -> bool:
        change = self._feed.state.changes.get(cid)
        return (
            change is not None and change.status == "open" and self._feed.state.finished_at is None
        )

    def _ask(
        self,
        prompt: Callable[[], Screen[Any]],
        what: str,
        how: str,
        still: Callable[[], bool],
    ) -> None:
        """Ring, and open the prompt over the dashboard; over another of its screens, a
        notification says what waits and how to answer (`what`, `how`: plain text). While a
        line is typed on the dashboard (its filter), the prompt waits until the line is left
        (enter or esc), if it `still` waits then, and a notification says so: the keys typed
        are the line's, never the prompt's answers."""
        self._app.bell()
        if self._free():
            self._app.push_screen(prompt())
        elif self._on_top():
            self._waiting.append((prompt, still))
            self._watch_focus()
            said = f"{what}: its prompt opens once you leave the filter (enter or esc)"
            self._app.notify(said, timeout=8, markup=False)
        else:
            self._app.notify(f"{what}: {how}", timeout=8, markup=False)

    def _watch_focus(self) -> None:
        """Open the prompts put off once the focus leaves the line being typed."""
        if not self._watching:
            self._watching = True
            self._screen.watch(self._screen, "focused", self._focus_moved, init=False)

    def _focus_moved(self) -> None:
        if self._waiting and self._free():
            self._app.call_later(self._open_waiting)

    def _open_waiting(self) -> None:
        """The prompts put off while a line was typed, that still wait (in their order, each
        over the one before, as prompts that open together do)."""
        if not self._free():
            return
        waiting, self._waiting = self._waiting, []
        for prompt, still in waiting:
            if still():
                self._app.push_screen(prompt())

    def _close(self, kind: type[GatePrompt], key: str, said: str) -> None:
        """The prompt of gate or change `key`, decided elsewhere meanwhile, closes, saying so."""
        screen = self._app.screen
        if isinstance(screen, kind) and screen.gate == key:
            screen.dismiss()
            self._app.notify(said, timeout=6, markup=False)

    def _ring_once(self, *key: str) -> bool:
        """True the first time this dashboard hears of a gate's attempt or a question."""
        if key in self._rung:
            return False
        self._rung.add(key)
        return True
