"""What the dashboard sends its run's engine: the selected task's keys (`R` retry, `s` skip,
`x` cancel, `+`/`-` priority; each refused here, in the engine's words, where the engine would
refuse it: engine/model/refusals.py), pause and resume, a note, and the palette's commands (an
agent's slots, a phase paused alone, an amendment). Each command is one toast: the engine's
answer, or why it was not sent."""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen

from phasegate.engine.client import resumes, take_over_hint
from phasegate.engine.client.feedback import note_after_end
from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import PhasegateError
from phasegate.engine.model.refusals import TaskAction, task_refusal
from phasegate.tui.dashboard.amend import amend_in_editor
from phasegate.tui.dashboard.feed import RunFeed
from phasegate.tui.dashboard.screens.ask import AskScreen, ConfirmScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable
from phasegate.tui.text import safe

# the task keys' actions, as the engine names them
_ACTIONS: dict[str, TaskAction] = {
    "retry": "retry",
    "skip": "skip",
    "cancel_task": "cancel",
    "priority": "priority",
}


class Steering(Screen[None]):
    """The run's dashboard screen's commands (tui/dashboard/screens/dashboard.py: its keys,
    its offer of them, the rest of the screen)."""

    feed: RunFeed
    _alive: bool  # an engine holds the run

    def _refused(self, action: str) -> str | None:
        """Why the engine would refuse `action` (a TASK_KEYS one) on the selected task now, in
        its words (engine/model/refusals.py); None when it would take it."""
        state, tid = self.feed.state, self.query_one(TaskTable).selected
        if tid is None:
            return "no task is selected"
        why, t = task_refusal(state, _ACTIONS[action], tid), state.tasks.get(tid)
        if why is not None and action != "retry" and t is not None and t.status.terminal:
            verb = {"skip": "skip", "cancel_task": "cancel"}.get(action, "reorder")
            again = "; R runs it again" if self._refused("retry") is None else ""
            return f"{why}: nothing to {verb}{again}"
        return why

    def _task_for(self, action: str) -> str | None:
        """The selected task, when the engine would take `action` on it now; else None, once
        the dashboard has said why not (before asking a reason or a confirmation)."""
        if not self._live():
            return None
        why = self._refused(action)
        if why is not None:
            self.app.notify(safe(why), severity="warning", timeout=5)
            return None
        return self.query_one(TaskTable).selected

    def action_refuse(self, action: str) -> None:
        """A task's key where the engine would not take it: why not, and nothing asked."""
        self._task_for(action)

    async def _send(self, order: cmd.Command) -> None:
        why = await self.feed.send(order)
        if why is not None:
            self.app.notify(safe(why), severity="error", timeout=6)
            return
        answer = self.feed.answer
        if isinstance(answer, ev.CommandDone):  # (its own words: `paused: running tasks ...`)
            self.app.notify(safe(answer.message), timeout=4)
            return
        phase = order.phase if isinstance(order, cmd.Pause | cmd.Resume) else ""
        of = f" of phase {safe(phase)}" if phase else ""
        self.app.notify(f"{order.kind.value.replace('_', ' ')}{of} sent", timeout=2)

    async def _send_built(self, build: Callable[[], cmd.Command]) -> None:
        """Send the command `build` makes, or say why it cannot be one (a value past its bound:
        a priority past a million, slots past 1,024), never ending the dashboard."""
        try:
            order = build()
        except cmd.BadCommand as exc:
            self.app.notify(safe(str(exc)), severity="warning", timeout=5)
            return
        await self._send(order)

    def _live(self) -> bool:
        if self.feed.state.finished_at is None and self._alive:
            return True
        if self.feed.state.finished_at is not None:
            said = "this run has ended: nothing to steer"
        else:  # (interrupted: no engine takes a command until one takes the run over)
            feed = self.feed
            hint = take_over_hint(feed.store.path, feed.run_id, feed.state.user)
            said = f"no engine runs this run: {hint}"
        self.app.notify(safe(said), severity="warning", timeout=5)
        return False

    async def action_pause(self) -> None:
        if self._live():
            await self._send(cmd.Pause())

    async def action_resume_run(self) -> None:
        """Go on as `phasegate resume RUN` does: the paused run, else each phase paused alone
        (a risk rule's `pause` action pauses the phase under way, not the run)."""
        if not self._live():
            return
        for order in resumes(self.feed.state) or [cmd.Resume()]:
            await self._send(order)

    def action_skip(self) -> None:
        task = self._task_for("skip")
        if task is None:
            return

        async def reason(text: str | None) -> None:
            if text:
                await self._send(cmd.Skip(task, text))

        asked = AskScreen(f"Skip {task}: why?", "the reason (recorded)", f"skip task {task}")
        self.app.push_screen(asked, reason)

    def action_cancel_task(self) -> None:
        task = self._task_for("cancel_task")
        if task is None:
            return

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self._send(cmd.CancelTask(task))

        asked = ConfirmScreen(
            f"Cancel task {task}? Its dependents will be blocked.", "cancels the task"
        )
        self.app.push_screen(asked, confirmed)

    async def action_priority(self, step: int) -> None:
        """`+`/`-`: the selected task one step up or down the queue (higher starts first)."""
        task = self._task_for("priority")
        if task is not None:
            value = self.feed.state.tasks[task].priority + step
            await self._send_built(lambda: cmd.Priority(task, value))

    def action_retry(self) -> None:
        """`R` asks first, and ctrl+s confirms: a stray R in typed text never starts a task
        again."""
        task = self._task_for("retry")
        if task is None:
            return

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self._send(cmd.Retry(task))

        asked = ConfirmScreen(f"Run task {task} again, as a new attempt?", "runs it again")
        self.app.push_screen(asked, confirmed)

    def action_slots(self) -> None:
        """Palette: an agent's slots (`AGENT N`), as `phasegate slots` does."""
        if not self._live():
            return
        agents = self.feed.state.agents

        async def chosen(text: str | None) -> None:
            parts = (text or "").split()
            if not parts:
                return
            if len(parts) != 2 or parts[0] not in agents or not parts[1].isdigit():
                known = ", ".join(sorted(agents))
                self.app.notify(
                    f"write AGENT N, N from 1 to {cmd.MAX_SLOTS:,}; agents: {known}",
                    severity="warning",
                    timeout=5,
                )
                return
            await self._send_built(lambda: cmd.Slots(parts[0], int(parts[1])))

        now = ", ".join(f"{a.id} {a.slots}" for a in agents.values())
        self.app.push_screen(AskScreen(f"Slots (now: {now})", "AGENT N"), chosen)

    async def action_amend(self) -> None:
        """Palette: edit the run's plan in $EDITOR and propose it (tui/dashboard/amend.py)."""
        if not self._live():
            return
        told = await amend_in_editor(self.app, self.feed)
        self.app.notify(told, timeout=6, markup=False)

    def action_hold_phase(self) -> None:
        """Palette: pause one phase (none of its tasks starts), or resume it if it is paused."""
        if not self._live():
            return
        phases = self.feed.state.phases

        async def chosen(text: str | None) -> None:
            phase = (text or "").strip()
            if not phase:
                return
            if phase not in phases:
                known = ", ".join(phases)
                self.app.notify(f"no phase '{phase}'; phases: {known}", severity="warning")
                return
            await self._send(cmd.Resume(phase) if phases[phase].held else cmd.Pause(phase))

        held = [p for p in phases.values() if p.held]
        hint = f" (paused: {', '.join(p.id for p in held)})" if held else ""
        self.app.push_screen(AskScreen(f"Pause or resume which phase?{hint}", "PHASE"), chosen)

    def action_note(self) -> None:
        """A note for the lessons learned: live, the engine takes it; ended, this dashboard
        records it (as `phasegate note` does)."""
        ended = self.feed.state.finished_at is not None
        if not ended and not self._live():
            return

        async def noted(text: str | None) -> None:
            if not text or not text.strip():
                return
            if not ended:
                await self._send(cmd.Note(text))
                return
            try:
                said = await note_after_end(self.feed.store, self.feed.run_id, text)
            except PhasegateError as exc:
                self.app.notify(safe(str(exc)), severity="error", timeout=6)
                return
            self.app.notify(safe(said or "noted"), timeout=4)

        self.app.push_screen(AskScreen("Note for this run", "kept for the lessons learned"), noted)
