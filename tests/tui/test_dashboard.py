"""Pilot tests of the dashboard at 80x24: every region reachable, every key doing its job."""

from __future__ import annotations

import os

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Log

from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.palette import DASHBOARD_COMMANDS
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.agents import AgentRoster
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel
from phasegate.tui.dashboard.widgets.risks import RiskFeed
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, text
from .helpers import rows as table_rows


async def test_every_region_shows_the_run_at_80x24(finished_run: tuple[str, str]) -> None:
    db, run_id = finished_run
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "dash" in header and run_id in header and "succeeded" in header
        phases = text(screen.query_one(PhasePanel))
        assert "Build it" in phases and "check" in phases and "2/2" in phases
        agents = text(screen.query_one(AgentRoster))
        assert "builder" in agents and "tester" in agents and "0/2" in agents
        rows = {r[0]: r for r in table_rows(screen.query_one(TaskTable))}
        assert set(rows) == {"compile", "docs", "unit", "flaky"}
        assert "succeeded" in rows["unit"][3] and "failed" in rows["flaky"][3]
        assert rows["unit"][2] == "tester" and rows["unit"][1] == "check"
        risks = text(screen.query_one(RiskFeed))
        assert "flaky" in risks and "exited with code 1" in risks
        # every region is on screen at 80x24, none of them squeezed out
        for widget in (RunHeader, PhasePanel, AgentRoster, TaskTable, RiskFeed):
            region = screen.query_one(widget).region
            assert region.width > 0 and region.height > 0
            assert region.right <= SIZE[0] and region.bottom <= SIZE[1]


async def test_help_lists_every_key_and_escape_closes_it(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(text(s) for s in app.screen.query("Static"))
        for key in ("ctrl+p", "tab", "enter", "/", " l ", "q", "esc", "j k"):
            assert key.strip() in shown
        # the palette's commands too: two of them (agent slots, a phase's pause) have no key
        for name, _, _ in DASHBOARD_COMMANDS:
            assert name in shown
        box = app.screen.query_one(VerticalScroll)
        assert box.max_scroll_y > 0  # longer than 80x24 allows: it scrolls
        await pilot.press("end")
        assert box.scroll_y == box.max_scroll_y
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_filter_narrows_the_task_table_and_escape_clears_it(
    finished_run: tuple[str, str],
) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        await pilot.press("slash")
        assert screen.query_one("#filter", Input).has_focus
        await pilot.press(*"failed", "enter")
        assert [r[0] for r in table_rows(table)] == ["flaky"]
        assert "filter: failed" in str(table.border_title)
        assert table.has_focus
        await pilot.press("escape")
        assert len(table_rows(table)) == 4


async def test_sort_cycles_and_status_puts_failures_first(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        assert [r[0] for r in table_rows(table)] == ["compile", "docs", "unit", "flaky"]
        await pilot.press("o")
        assert "sort: status" in str(table.border_title)
        assert table_rows(table)[0][0] == "flaky"
        for _ in range(4):
            await pilot.press("o")
        assert "sort: plan" in str(table.border_title)


async def test_j_k_move_and_enter_opens_the_task_with_its_output(
    finished_run: tuple[str, str],
) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        await pilot.press("j", "j")
        assert table.selected == "unit"
        await pilot.press("k")
        assert table.selected == "docs"
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskScreen)
        log = app.screen.query_one(Log)
        assert any("unit ok" in line for line in log.lines)
        await pilot.press("slash", *"needle", "enter")
        assert [line for line in log.lines] == ["needle here"]
        await pilot.press("n")
        assert any("unit ok" in line for line in log.lines)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_l_opens_logs_and_untrusted_text_stays_text(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("j", "l")
        await pilot.pause()
        assert isinstance(app.screen, TaskScreen)
        lines = list(app.screen.query_one(Log).lines)
        # markup is shown as written and the escape sequence is made visible, not obeyed
        assert any("[bold red]markup[/]" in line and "\\x1b[31mred" in line for line in lines)
        assert not any("\x1b" in line for line in lines)


async def test_tab_moves_between_regions(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        seen = []
        for _ in range(4):
            seen.append(type(app.focused).__name__)
            await pilot.press("tab")
        assert {"TaskTable", "RiskFeed", "PhasePanel", "AgentRoster"} <= set(seen)
        await pilot.press("shift+tab")
        assert app.focused is not None
        assert screen.query_one(TaskTable) is not None


async def test_command_palette_opens(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


async def test_q_quits_a_finished_run_at_once(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value is None


async def test_the_run_browser_opens_a_run(finished_run: tuple[str, str]) -> None:
    db, run_id = finished_run
    app = PhasegateApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table_rows(table)[0][0] == run_id
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert len(table_rows(app.screen.query_one(TaskTable))) == 4
        await pilot.press("escape")
        assert not isinstance(app.screen, DashboardScreen)


async def test_wide_terminals_show_the_selected_tasks_output_beside_the_table(
    finished_run: tuple[str, str],
) -> None:
    from phasegate.tui.dashboard.widgets.output import OutputLog

    app = PhasegateApp(*finished_run)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await dashboard(app, pilot)
        side = screen.query_one("#side", OutputLog)
        assert side.display and side.region.width > 0
        await pilot.press("j", "j")
        await screen.drain()
        assert side.task_id == "unit"
        assert "needle here" in list(side.lines)


async def test_nothing_breaks_on_resize_down_to_80x24(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await dashboard(app, pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not screen.query_one("#side").display
        for widget in (RunHeader, PhasePanel, AgentRoster, TaskTable, RiskFeed):
            region = screen.query_one(widget).region
            assert region.height > 0 and region.right <= 80 and region.bottom <= 24
        assert len(table_rows(screen.query_one(TaskTable))) == 4


def test_color_never_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from phasegate.tui.launch import _set_colour

    # set first so that monkeypatch restores the variables, whatever _set_colour does to them
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TEXTUAL_COLOR_SYSTEM", "auto")
    monkeypatch.delenv("NO_COLOR")
    _set_colour("never")
    assert os.environ["NO_COLOR"] == "1"
    _set_colour("256")
    assert os.environ["TEXTUAL_COLOR_SYSTEM"] == "256"


async def test_the_footer_offers_only_keys_that_do_something_and_the_palette_one_keys(
    finished_run: tuple[str, str],
) -> None:
    from textual.app import SystemCommand

    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        shown = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert "p" not in shown and "d" not in shown  # the run has ended
        assert {"q", "g", "l", "slash"} <= shown
        titles = [c.title for c in app.get_system_commands(screen) if isinstance(c, SystemCommand)]
        assert titles.count("Keys") == 1


async def test_the_roster_says_an_agent_s_newest_line_before_how_long_it_has_been_quiet() -> None:
    """`build · Running the suite… · quiet 30.0s`: the line first. The quiet time came first,
    and a narrow roster cut the line that says what the agent does."""
    from textual.app import App, ComposeResult

    from phasegate.engine.model.state import AgentState, RunState, TaskState

    class _Roster(App[None]):
        def compose(self) -> ComposeResult:
            yield AgentRoster()

    state = RunState()
    state.tasks["build"] = TaskState("build", "p", agent="w", started_at=100.0)
    state.agents["w"] = AgentState("w", 2, running={"build"})
    line = {"build": "Running the suite of module engine.store"}
    async with _Roster().run_test(size=(60, 8)) as pilot:
        roster = pilot.app.query_one(AgentRoster)
        roster.show(state, {"build": 100.0}, now=130.5, last_line=line)
        await pilot.pause()
        shown = text(roster)
        assert "build · Running the suite" in shown, shown
        roster.show(state, {"build": 100.0}, now=130.5, last_line={})
        await pilot.pause()
        assert "build · quiet 30.0s" in text(roster)


async def test_the_task_table_gives_a_long_id_the_tests_column_s_room_until_it_is_needed() -> None:
    """At 80 columns `integration-tests` read `integration-t…`: the tests' column (empty for
    a plan without results) kept its room. It now comes with the first results."""
    from textual.app import App, ComposeResult

    from phasegate.engine.model.state import RunState, TaskState

    class _Tasks(App[None]):
        def compose(self) -> ComposeResult:
            yield TaskTable()

    state = RunState()
    state.tasks["integration-tests"] = TaskState("integration-tests", "build", agent="w")
    state.tasks["lint"] = TaskState("lint", "build", agent="w")
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=0.0)
        await pilot.pause()
        shown = text(table)
        assert "integration-tests " in shown and "TESTS" not in shown, shown
        state.tasks["lint"].results = {"source": "junit", "passed": 3, "failed": 1}
        table.refresh_tasks(state, {"lint"}, now=0.0)
        await pilot.pause()
        shown = text(table)
        assert "TESTS" in shown and "3✓ 1✗" in shown, shown
        assert "integration-te…" in shown  # (back to its share: 80 columns hold no more)
        assert all(len(line) <= SIZE[0] for line in shown.splitlines())


async def test_the_task_table_follows_an_amendment_that_swaps_one_task_for_another() -> None:
    """The same number of tasks: the table kept the one taken out (its clock then raised
    KeyError every second) and never showed the one put in."""
    from textual.app import App, ComposeResult

    from phasegate.engine.model.state import RunState, TaskState
    from phasegate.engine.model.statuses import TaskStatus

    class _Tasks(App[None]):
        def compose(self) -> ComposeResult:
            yield TaskTable()

    state = RunState()
    for tid in ("a", "b"):
        state.tasks[tid] = TaskState(tid, "p", agent="w", status=TaskStatus.RUNNING, started_at=0.0)
    async with _Tasks().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(TaskTable)
        table.rebuild(state, now=1.0)
        state.tasks = {"a": state.tasks["a"], "c": TaskState("c", "p", agent="w")}
        table.refresh_tasks(state, {"a", "c"}, now=2.0)  # (as the feed says of an amendment)
        table.tick(state, now=3.0)
        await pilot.pause()
        ids = [r[0] for r in table_rows(table)]
        assert ids == ["a", "c"], ids
