"""Stakeholder feedback at hand-off (issue 20, point 2): those the plan's `feedback:` asks are
prompted in their dashboards (the bell rings once) when the run ends or its gate opens, and
answer there or with `phasegate feedback RUN`; nobody else is prompted; the answers are in
`show`, the success metrics (stakeholder satisfaction), the lessons, the trend across the
plan's runs and `phasegate search`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.feedback import FeedbackPrompt

from .conftest import Run
from .helpers import SIZE, dashboard, live_run, run_started, until_shown

ME = current_identity().user


def _ended(ask: list[str]) -> list[ev.Event]:
    now = time.time()
    return [
        run_started(
            now - 5,
            "fb",
            ["t"],
            agent="a",
            user="someone-who-started-it",
            feedback={"ask": ask, "at": "end"},
        ),
        ev.FeedbackAsked(now - 1, "end", ask),
        ev.RunFinished(now, "succeeded", ""),
    ]


async def _ended_run(db: str, ask: list[str]) -> str:
    run_id = await live_run(db, "fb", _ended(ask), dead=True)
    store = await SQLiteStore.open(db)
    try:
        await store.write_batch(
            run_id, [], summary={"status": "succeeded", "finished_at": time.time()}
        )
    finally:
        await store.close()
    return run_id


async def _given(db: str, run_id: str) -> list[ev.FeedbackGiven]:
    store = await SQLiteStore.open(db)
    try:
        return [e for _, e in await store.read_events(run_id) if isinstance(e, ev.FeedbackGiven)]
    finally:
        await store.close()


async def test_the_asked_are_prompted_once_and_answer_in_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/f.db"
    run_id = await _ended_run(db, [ME])
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FeedbackPrompt)
        await pilot.press("4")
        assert app.screen.query_one("#q-rating", Input).value == "4"
        await pilot.press("enter", *"clear hand-off", "enter")
        await until_shown(
            pilot, "the prompt to close", lambda: isinstance(app.screen, DashboardScreen)
        )
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await until_shown(
            pilot,
            "the dashboard to read its own answer",
            lambda: any(g["user"] == ME for g in screen.feed.state.feedback_given),
        )
        await pilot.pause(0.3)  # (the dashboard drains its own answer: no second prompt)
        assert isinstance(app.screen, DashboardScreen)
    assert len(rang) == 1
    [given] = await _given(db, run_id)
    me = current_identity()
    assert (given.user, given.uid, given.host) == (me.user, me.uid, me.host)
    assert (given.rating, given.comment) == (4, "clear hand-off")


async def test_who_is_not_asked_gets_no_prompt_and_no_bell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"{tmp_path}/f.db"
    run_id = await _ended_run(db, ["not-me-at-all", "group:no-such-group-here"])
    app = PhasegateApp(db, run_id)
    rang: list[float] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append(time.monotonic()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        await until_shown(
            pilot,
            "the dashboard to read that feedback is asked",
            lambda: screen.feed.state.feedback_asked is not None,
        )
        await pilot.pause(0.3)  # (a few more drains: no prompt, no bell for them)
        assert isinstance(app.screen, DashboardScreen)
    assert rang == []


PLAN = """
name: fb-plan
agents: {a: {}}
phases:
  - id: p
    tasks: [{id: t, run: "true", agent: a}]
feedback: {ask: [ME], questions: [{id: fit, text: "Fit? (1-5)", kind: rating},
                                  {id: said, text: "Say"}, {id: next, text: "Next time?"}]}
"""


@pytest.mark.slow
def test_answered_from_the_command_line_shown_in_show_metrics_report_trend_and_search(
    tmp_path: Path, pg: Run
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("ME", ME))
    ratings = {}
    for rating, comment in ((2, "slow to start"), (5, "spotless hand-off")):
        assert pg("run", "plan.yaml", "--headless").returncode == 0
        done = pg("feedback", "last", "--rating", str(rating), "--comment", comment,
                  "--answer", "next=more tests")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"rating {rating}/5" in done.stdout
        ratings[json.loads(pg("show", "last", "--json").stdout)["id"]] = rating
    shown = json.loads(pg("show", "last", "--json").stdout)
    [given] = shown["feedback"]
    assert (given["user"], given["rating"], given["comment"]) == (ME, 5, "spotless hand-off")
    assert given["answers"] == {"fit": "5", "said": "spotless hand-off", "next": "more tests"}
    assert shown["metrics"]["stakeholder_satisfaction"] == 100.0
    text = pg("show", "last").stdout
    assert "satisfaction 100%" in text and "spotless hand-off" in text
    report = pg("report", "last").stdout
    assert "### Stakeholder feedback" in report and f"- {ME}: 5/5, spotless hand-off" in report
    assert "stakeholder satisfaction" in report
    pg("report", "last", "--format", "html", "-o", "html")
    page = "".join(p.read_text() for p in (tmp_path / "html").iterdir())
    assert "stakeholder satisfaction 40%" in page and "stakeholder satisfaction 100%" in page
    found = pg("search", "spotless").stdout
    assert "feedback" in found and "spotless hand-off" in found
    # a rating outside 1-5 and an unknown question are refused, with the reason
    bad = pg("feedback", "last", "--answer", "nope=1")
    assert bad.returncode == 2 and "unknown question 'nope'" in bad.stderr
    assert pg("feedback", "last", "--rating", "7").returncode == 2


def test_feedback_at_a_gate_that_does_not_exist_is_a_plan_error(tmp_path: Path, pg: Run) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("ME", ME).replace("ask:", "at: reveiw, ask:"))
    done = pg("validate", "plan.yaml")
    assert done.returncode == 2 and "feedback at 'reveiw'" in done.stderr + done.stdout
