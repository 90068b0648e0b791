"""`o` sorts the task table by phase in the plan's order of phases, and by agent with the
tasks no agent took yet last.

Regressions: sorted "by phase", the demo's tasks read build, prepare, release (the phases'
names in alphabetical order); sorted by agent, the unassigned tasks (`-`) came first."""

from __future__ import annotations

from textual.app import App, ComposeResult

from phasegate.engine.model.state import PhaseState, RunState, TaskState
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, rows


class _Tasks(App[None]):
    def compose(self) -> ComposeResult:
        yield TaskTable()


def _demo() -> RunState:
    """The demo's shape: prepare, build, release; tasks listed release first."""
    state = RunState()
    for phase in ("prepare", "build", "release"):
        state.phases[phase] = PhaseState(phase)
    for tid, phase, agent in (
        ("package", "release", None),
        ("compile", "build", "builder"),
        ("fetch", "prepare", "builder"),
        ("lint", "build", None),
        ("unit-tests", "build", "tester"),
    ):
        state.tasks[tid] = TaskState(tid, phase, agent=agent)
    return state


async def test_sorting_by_phase_follows_the_plan_and_by_agent_puts_unassigned_last() -> None:
    state = _demo()
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        while table.sort_key != "phase":
            table.cycle_sort(state)
        await pilot.pause()
        shown = rows(table)  # (task, phase, agent, ...) as the table shows them
        assert [r[1] for r in shown] == ["prepare", "build", "build", "build", "release"], shown
        assert [r[0] for r in shown[1:4]] == ["compile", "lint", "unit-tests"]  # (plan order)
        table.cycle_sort(state)
        await pilot.pause()
        assert "sort: agent" in str(table.border_title)
        agents = [r[2] for r in rows(table)]
        assert agents == ["builder", "builder", "tester", "-", "-"], agents
