"""At 80x24 the dashboard's footer shows every key of the moment, whole, the palette's `^p`
too (on a second line where one does not hold them), and the task table keeps every column;
at 120x40 the keys keep to one line.

Regression: at 80 columns a live run's footer left out `s Skip`, `x Cancel`, `+/- Priority` and
`^p palette` (after a resize to 80: `n Note` and `f Follow` instead), by design (`give_way`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.widgets.tasks import TaskTable

from .helpers import SIZE, dashboard, live_run, run_started, text, until_shown


async def _going(db: str) -> str:
    """A live run: `failer` failed (its phase goes on), `busy` runs, `later` waits."""
    now = time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "going", ["failer", "busy", "later"], agent="a", slots=2),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 60, "failer", 1, "a", 1, 1),
        ev.TaskFinished(now - 50, "failer", 1, "failed", 1),
        ev.TaskStarted(now - 50, "busy", 1, "a", 1, 1),
    ]
    return await live_run(db, "going", events)


async def _select(pilot: Pilot[object], screen: DashboardScreen, task: str) -> None:
    table = screen.query_one(TaskTable)
    await until_shown(pilot, f"{task} in the table", lambda: task in table._shown)
    table.move_cursor(row=table._shown.index(task))
    await pilot.pause()


def _wanted(screen: DashboardScreen) -> list[str]:
    """Every key the screen offers now (`? Help`, `+/- Priority`), as the footer words it."""
    app = screen.app
    return [
        f"{app.get_key_display(binding)} {binding.description}"
        for _, binding, _, _ in screen.active_bindings.values()
        if binding.show
    ]


def _shown(screen: DashboardScreen, width: int, height: int) -> str:
    """The footer's lines as drawn, each key checked whole, inside the terminal, over no other."""
    keys = [k for k in screen.query_one(Footer).query("FooterKey") if k.display]
    for key in keys:
        r = key.region
        assert r.width and r.x >= 0 and r.right <= width and r.bottom <= height, key
        assert not any(r.overlaps(o.region) for o in keys if o is not key), key
    lines: dict[int, list[tuple[int, str]]] = {}
    for key in keys:
        lines.setdefault(key.region.y, []).append((key.region.x, text(key).strip()))
    return "\n".join(" ".join(t for _, t in sorted(lines[y])) for y in sorted(lines))


async def _every_key_shows(pilot: Pilot[object], screen: DashboardScreen) -> str:
    await pilot.pause()
    width, height = screen.app.size
    shown = _shown(screen, width, height)
    wanted = _wanted(screen)
    assert len(wanted) >= 5, wanted
    for key in wanted:
        assert key in shown, (key, shown)
    assert "^p palette" in shown, shown
    return shown


async def test_every_key_of_a_live_run_shows_at_80x24(tmp_path: Path) -> None:
    db = f"{tmp_path}/k.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        shown = await _every_key_shows(pilot, screen)
        for key in ("s Skip", "x Cancel", "+/- Priority", "n Note", "f Follow", "d Detach"):
            assert key in shown, shown
        await _select(pilot, screen, "failer")
        shown = await _every_key_shows(pilot, screen)
        assert "R Retry" in shown, shown
        table = screen.query_one(TaskTable)  # (the table keeps every column and its rows)
        assert [c.key.value for c in table.columns.values()] == [
            "task",
            "phase",
            "agent",
            "status",
            "try",
            "time",
        ]
        assert all(t in text(table) for t in ("failer", "busy", "later"))


async def test_every_key_shows_after_a_resize_to_80x24_and_one_line_at_120(
    tmp_path: Path,
) -> None:
    db = f"{tmp_path}/r.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        await _every_key_shows(pilot, screen)
        assert screen.query_one(Footer).region.height == 1
        await pilot.resize_terminal(*SIZE)
        await _every_key_shows(pilot, screen)
        await pilot.resize_terminal(120, 40)
        await _every_key_shows(pilot, screen)
        assert screen.query_one(Footer).region.height == 1


@pytest.mark.parametrize("size", [SIZE, (120, 40)])
async def test_a_filter_s_esc_and_every_other_key_show(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    db = f"{tmp_path}/f.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=size) as pilot:
        screen = await dashboard(app, pilot)
        await _select(pilot, screen, "busy")
        await pilot.press("slash", "b", "u", "enter")
        shown = await _every_key_shows(pilot, screen)
        assert "esc Clear filter" in shown, shown
