"""Pilot tests of the dashboard at 80x24: every region reachable, every key doing its job."""

from __future__ import annotations

import os
import time

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Log

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.palette import DASHBOARD_COMMANDS
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.engine_lost import EngineLostScreen
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.screens.quit import QuitScreen
from phasegate.tui.dashboard.screens.task import TaskScreen
from phasegate.tui.dashboard.widgets.agents import AgentRoster
from phasegate.tui.dashboard.widgets.header import RunHeader
from phasegate.tui.dashboard.widgets.phases import PhasePanel
from phasegate.tui.dashboard.widgets.risks import RiskFeed
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, text
from .helpers import commands as sent_commands


def _rows(table: DataTable[object]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


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
        rows = {r[0]: r for r in _rows(screen.query_one(TaskTable))}
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
        assert [r[0] for r in _rows(table)] == ["flaky"]
        assert "filter: failed" in str(table.border_title)
        assert table.has_focus
        await pilot.press("escape")
        assert len(_rows(table)) == 4


async def test_sort_cycles_and_status_puts_failures_first(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        assert [r[0] for r in _rows(table)] == ["compile", "docs", "unit", "flaky"]
        await pilot.press("o")
        assert "sort: status" in str(table.border_title)
        assert _rows(table)[0][0] == "flaky"
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


async def _active_run(db: str, dead: bool = False) -> str:
    """A live run with one task running and one waiting (its engine dead if `dead`)."""
    now = time.time()
    started = ev.RunStarted(
        now,
        "live",
        "live-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}],
        tasks=[
            {"id": "first", "phase": "p", "agent": "a", "needs": []},
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
    )
    return await live_run(db, "live", [started, ev.TaskStarted(now, "t", 1, "a", 1, 1)], dead)


async def test_quitting_an_active_run_asks_and_stop_sends_a_cancel(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("q", "s")
        await pilot.pause()
    assert app.return_value == "stopped"
    assert [kind for kind, _ in await sent_commands(db, run_id)] == ["cancel"]


async def test_leaving_an_active_run_running(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("q", "l")
        await pilot.pause()
    assert app.return_value == "left"


async def test_d_detaches_and_leaves_the_run_going(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("d")
        await pilot.pause()
    assert app.return_value == "detached"
    assert await sent_commands(db, run_id) == []  # nothing was stopped


async def test_a_dead_engine_is_announced_and_r_takes_the_run_over(
    finished_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = finished_run
    run_id = await _active_run(db, dead=True)
    started: list[tuple[str, str]] = []

    class Engine:
        pid = 4242

    def fake_take_over(db_path: str, rid: str) -> Engine:
        started.append((db_path, rid))
        return Engine()

    monkeypatch.setattr("phasegate.tui.launch.take_over", fake_take_over)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        shown = " ".join(text(s) for s in app.screen.query("Static"))
        assert f"Run {run_id} was interrupted" in str(app.screen.query_one("Vertical").border_title)
        assert "In flight: t" in shown and f"phasegate resume {run_id}" in shown
        await pilot.press("escape")
        screen = await dashboard(app, pilot)
        assert "interrupted" in text(screen.query_one(RunHeader))
        await pilot.press("q")  # no live engine: nothing to ask
        await pilot.pause()
    assert app.return_value is None and started == []

    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        await pilot.press("r")
        await pilot.pause()
        assert started == [(db, run_id)]
        assert isinstance(app.screen, DashboardScreen)


async def test_the_run_browser_opens_a_run(finished_run: tuple[str, str]) -> None:
    db, run_id = finished_run
    app = PhasegateApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert _rows(table)[0][0] == run_id
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert len(_rows(app.screen.query_one(TaskTable))) == 4
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
        assert len(_rows(screen.query_one(TaskTable))) == 4


async def test_f_follows_the_running_task(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        table = screen.query_one(TaskTable)
        assert table.selected == "first"
        await pilot.press("f")
        assert table.follow and "following" in str(table.border_title)
        assert table.selected == "t"  # the running one


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


async def _run_with_open_gate(db: str) -> str:
    """A live run whose manual gate `review` waits for a decision."""
    now = time.time()
    started = ev.RunStarted(
        now,
        "gated",
        "gated-plan",
        "x.yaml",
        phases=[{"id": "p", "title": "", "timebox": None}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "review", "after": "p", "approval": "manual", "approvers": [], "quorum": 1}],
    )
    opened = ev.GateOpened(
        now,
        "review",
        1,
        [{"kind": "run", "spec": "[red]pytest[/]", "passed": True, "detail": "exit 0"}],
        "ab" * 32,
        "manual",
    )
    return await live_run(db, "gated", [started, opened])


async def test_an_open_gate_prompts_and_a_approves(finished_run: tuple[str, str]) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt
    from phasegate.tui.dashboard.widgets.phases import PhasePanel

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        shown = " ".join(text(w) for w in app.screen.query("Static"))
        assert "[red]pytest[/]" in shown and "exit 0" in shown  # evidence, markup inert
        await pilot.press("a")  # asks to confirm, a reason optional: nothing sent yet
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        panel = text(app.screen.query_one(PhasePanel))
        assert "gate review" in panel and "waiting for approval" in panel
    commands = await sent_commands(db, run_id)
    assert [(k, a["gate"], a.get("reason", "")) for k, a in commands] == [("approve", "review", "")]
    # (sent by this test's OS user, as the socket's peer credentials say: helpers.commands)


async def test_r_asks_a_reason_and_rejects_and_g_lists_gates(finished_run: tuple[str, str]) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")  # closes without deciding
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("g")
        assert isinstance(app.screen, GatesScreen)
        assert _rows(app.screen.query_one(DataTable))[0][:3] == ["review", "p", "open"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press("r", "enter")  # an empty reason is not sent
        assert isinstance(app.screen, GatePrompt)
        await pilot.press(*"flaky", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    expected = {"gate": "review", "reason": "flaky"}
    assert await sent_commands(db, run_id) == [("reject", expected)]


@pytest.mark.slow
async def test_p_s_x_n_send_commands_for_the_selected_task(
    finished_run: tuple[str, str],
) -> None:
    from phasegate.tui.dashboard.screens.ask import AskScreen, ConfirmScreen

    db, _ = finished_run
    run_id = await _active_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("p")
        await pilot.press("s")
        assert isinstance(app.screen, AskScreen)
        await pilot.press("enter")  # no reason: nothing sent, still asking
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"dup", "enter")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing sent
        await pilot.press("x", "y")
        await pilot.press("n", *"late deploy", "enter")
        await pilot.press("R", "n")  # asks first: no
        await pilot.press("R", "y", "plus", "plus")
        await pilot.pause()
    sent = [
        (k, {a: v for a, v in args.items() if a in ("task", "reason", "text", "priority")})
        for k, args in await sent_commands(db, run_id)
    ]
    assert sent == [
        ("pause", {}),
        ("skip", {"task": "first", "reason": "dup"}),
        ("cancel_task", {"task": "first"}),
        ("note", {"text": "late deploy"}),
        ("retry", {"task": "first"}),
        ("priority", {"task": "first", "priority": 1}),  # (no engine here applies the first)
        ("priority", {"task": "first", "priority": 1}),
    ]


async def test_steering_a_finished_run_says_so(finished_run: tuple[str, str]) -> None:
    app = PhasegateApp(*finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("p", "s")
        assert isinstance(app.screen, DashboardScreen)
    assert await sent_commands(*finished_run) == []


async def test_research_answers_show_under_the_first_phase(finished_run: tuple[str, str]) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now,
        "rs",
        "rs-plan",
        "x.yaml",
        phases=[{"id": "init", "title": "Initialisation"}, {"id": "later", "title": "Later"}],
        tasks=[{"id": "t", "phase": "init", "agent": "a"}],
        agents=[{"id": "a", "slots": 1}],
    )
    answers = [
        ev.ResearchFinished(now, "past", "history", "flaky", ["r1 lesson x", "r2 note y"]),
        ev.ResearchFinished(now, "[b]docs[/b]", "rg", "q", [], "`rg` exited 2"),
    ]
    run_id = await live_run(db, "rs", [started, *answers, ev.PhaseStarted(now, "init")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()
        first = next(i for i, line in enumerate(lines) if "Initialisation" in line)
        row = lines[first + 1]
        assert "research past, [b]doc" in row and " 2 " in row and "error" in row  # as text
        assert "Later" in lines[first + 2]


async def test_the_forecast_shows_as_the_runs_eta_and_each_phases_time_left(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now,
        "forecast",
        "forecast-plan",
        "x.yaml",
        phases=[
            {"id": "build", "title": "Build", "timebox": 60.0},
            {"id": "ship", "title": "Ship"},
        ],
        tasks=[
            {"id": "t", "phase": "build", "agent": "a", "needs": []},
            {"id": "u", "phase": "ship", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
    )
    # the engine's forecast: build ends in 90 s (past its 60 s timebox), the run in 10 minutes
    predicted = ev.ForecastUpdated(now, 600.0, 0, {"build": 90.0, "ship": 600.0})
    run_id = await live_run(db, "forecast", [started, ev.PhaseStarted(now, "build"), predicted])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "ETA 10m00s" in header or "ETA 9m5" in header  # counted down since
        phases = text(screen.query_one(PhasePanel))
        assert "~1m" in phases and ("~9m" in phases or "~10m00s" in phases)


def _many_phases(n: int, gate_after: str | None = None) -> ev.RunStarted:
    return ev.RunStarted(
        time.time(),
        "many",
        "many-plan",
        "x.yaml",
        phases=[{"id": f"p{i}", "title": f"Stage {i}"} for i in range(1, n + 1)],
        tasks=[{"id": f"t{i}", "phase": f"p{i}", "agent": "a"} for i in range(1, n + 1)],
        agents=[{"id": "a", "slots": 1}],
        gates=[{"id": "signoff", "after": gate_after, "approval": "manual", "quorum": 1}]
        if gate_after
        else [],
    )


async def test_the_running_phase_stays_in_sight_when_phases_outnumber_the_panel(
    finished_run: tuple[str, str],
) -> None:
    """At 80x24 the panel has 5 lines: with 6 phases and a gate, the ended phases fold into one
    line once the last phase runs, instead of pushing it out of sight."""
    db, _ = finished_run
    now = time.time()
    events: list[ev.Event] = [_many_phases(6, gate_after="p5")]
    for i in range(1, 6):
        events += [
            ev.PhaseStarted(now, f"p{i}"),
            ev.TaskStarted(now, f"t{i}", 1, "a", 1, 1, "true"),
            ev.TaskFinished(now, f"t{i}", 1, "succeeded", 0),
            ev.PhaseFinished(now, f"p{i}", "succeeded"),
        ]
    events.append(ev.PhaseStarted(now, "p6"))
    run_id = await live_run(db, "many", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()[1:-1]  # inside the border
        assert len(lines) == 5
        assert "3 phases" in lines[0] and "3/3" in lines[0] and "ended" in lines[0]
        assert "Stage 4" in lines[1] and "Stage 5" in lines[2]
        assert "gate signoff" in lines[3]
        assert "▶ Stage 6" in lines[4] and "0/1" in lines[4]


async def test_phases_that_do_not_fit_are_counted_on_the_last_line(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    run_id = await live_run(db, "many", [_many_phases(8), ev.PhaseStarted(time.time(), "p1")])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        lines = text(screen.query_one(PhasePanel)).splitlines()[1:-1]
        assert "▶ Stage 1" in lines[0] and "Stage 4" in lines[3]
        assert "… 4 more phases" in lines[4]


async def test_approving_asks_to_confirm_with_a_reason_and_typed_words_fire_nothing(
    finished_run: tuple[str, str],
) -> None:
    """Regression (issue 19): `a` approved at once, and a word typed into the dashboard ran
    one action per letter. Typing "approve" at the prompt now only fills the reason line."""
    from phasegate.tui.dashboard.screens.gate import GatePrompt

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press(*"approve")
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt) and app.screen.asking
        await pilot.press("escape")  # back to the prompt's keys, nothing decided
        assert isinstance(app.screen, GatePrompt) and not app.screen.asking
        await pilot.press("a", *"looks good", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press(*"approve")  # on the dashboard: a, r, o, v, e do nothing; p p
        await pilot.pause()
    sent = [(k, a.get("reason")) for k, a in await sent_commands(db, run_id)]
    assert sent[0] == ("approve", "looks good")
    assert [k for k, _ in sent[1:]] == ["pause", "pause"]  # (no engine here applies the first)


async def test_phasegate_quick_approve_approves_at_once(
    finished_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phasegate.tui.dashboard.screens.gate import GatePrompt

    db, _ = finished_run
    run_id = await _run_with_open_gate(db)
    monkeypatch.setenv("PHASEGATE_QUICK_APPROVE", "1")  # the user's setting: no confirmation
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GatePrompt)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
    assert [k for k, _ in await sent_commands(db, run_id)] == ["approve"]


async def test_a_gate_reads_pending_then_waiting_for_approval_and_the_header_says_since_when(
    finished_run: tuple[str, str],
) -> None:
    db, _ = finished_run
    now = time.time()
    started = ev.RunStarted(
        now - 700,
        "gw",
        "gw-plan",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}, {"id": "r"}],
        tasks=[
            {"id": "t", "phase": "p", "agent": "a", "needs": []},
            {"id": "u", "phase": "q", "agent": "a", "needs": []},
        ],
        agents=[{"id": "a", "slots": 1}],
        gates=[
            {"id": "review", "after": "p", "approval": "manual", "quorum": 1},
            {"id": "final", "after": "q", "approval": "manual", "quorum": 1},
        ],
    )
    # forecast 90 s left, made as the gate opened 10 minutes ago: the ETA stays 1m30s after it
    opened = ev.GateOpened(now - 600, "review", 1, [], "ab" * 32, "manual")
    predicted = ev.ForecastUpdated(now - 600, 90.0, 0, {"q": 60.0, "r": 90.0})
    run_id = await live_run(db, "gw", [started, ev.PhaseStarted(now - 700, "p"), opened, predicted])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        screen = await dashboard(app, pilot)
        header = text(screen.query_one(RunHeader))
        assert "waiting for gate review since 10m" in header
        assert "then ~1m30s" in header and "ETA 0" not in header
        lines = text(screen.query_one(PhasePanel)).splitlines()
        review = next(line for line in lines if "gate review" in line)
        final = next(line for line in lines if "gate final" in line)
        assert "gate review waiting for approval" in review
        assert "pending" in final and "waiting" not in final


async def test_the_interrupted_prompt_closes_once_the_run_is_resumed_elsewhere(
    finished_run: tuple[str, str],
) -> None:
    """Regression (issue 19): after `phasegate resume` in another terminal, the "was
    interrupted" prompt stayed on a live run, offering r."""
    import psutil

    from phasegate.engine.store import SQLiteStore

    db, _ = finished_run
    run_id = await _active_run(db, dead=True)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        store = await SQLiteStore.open(db)  # a new engine (this process) takes the run
        try:
            me = os.getpid()
            await store.acquire_lease(
                run_id, me, psutil.Process(me).create_time(), time.time(), lambda *_: False
            )
        finally:
            await store.close()
        screen = app.get_screen_stack()[-2] if len(app.screen_stack) > 1 else None
        assert isinstance(screen, DashboardScreen)
        await screen._tick()  # (once a second)
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "interrupted" not in text(screen.query_one(RunHeader))
        shown = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert {"p", "d"} <= shown  # steerable again


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
