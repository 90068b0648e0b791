"""At 80x24 the task filter's text shows while it is typed, above the footer: on a live run
(whose footer takes two lines) as on an ended one (one line).

Regression: on a live run, `/` then typing showed only the box's top border (`▊▔▔▔…`) above
`esc Clear filter`: the box was docked at the bottom, under the two-line footer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Footer, Input

from phasegate.engine.model import events as ev
from phasegate.tui.dashboard.app import PhasegateApp

from .helpers import SIZE, dashboard, live_run, run_started, until_shown


def _screen_lines(app: PhasegateApp) -> list[str]:
    """The terminal's lines as drawn (every layer: what lies over what)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


@pytest.mark.parametrize("ended", [False, True], ids=["live", "ended"])
async def test_the_typed_filter_shows_above_the_footer(tmp_path: Path, ended: bool) -> None:
    db = f"{tmp_path}/f.db"
    now = time.time()
    events: list[ev.Event] = [
        run_started(now - 60, "f", ["alpha", "busy", "later"], agent="a", slots=2),
        ev.PhaseStarted(now - 60, "p"),
        ev.TaskStarted(now - 50, "busy", 1, "a", 1, 1),
    ]
    if ended:
        events += [
            ev.TaskFinished(now - 40, "busy", 1, "succeeded", 0),
            ev.RunFinished(now - 40, "cancelled", "stopped"),
        ]
    run_id = await live_run(db, "f", events)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        foot = screen.query_one(Footer)
        want = 1 if ended else 2  # (a live run's keys take two lines at 80 columns)
        await until_shown(pilot, f"a footer of {want}", lambda: foot.region.height == want)
        await pilot.press("slash", *"busy")
        box = screen.query_one("#filter", Input)
        await until_shown(pilot, "the typed filter", lambda: box.value == "busy")
        await pilot.pause()
        line = box.content_region
        width, height = SIZE
        assert line.height >= 1 and line.y >= 0 and line.bottom <= height, line
        assert line.x >= 0 and line.right <= width, line
        assert not line.overlaps(foot.region), (line, foot.region)
        widget, _ = screen._compositor.get_widget_at(line.x, line.y)
        assert widget is box, widget  # (nothing drawn over it)
        drawn = _screen_lines(app)
        assert "busy" in drawn[line.y], drawn
        assert "esc Clear filter" in "\n".join(drawn[foot.region.y :]), drawn
