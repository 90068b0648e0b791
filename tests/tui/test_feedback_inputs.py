"""Regression (W3, point 3): bad feedback input was taken, or refused as a policy refusal.
`--answer risk=` stored an empty answer; `--answer rating=9` exited 1 ("refused") where
`--rating 9` exits 2 (both bad input: 2); a 100 KB `--comment` was kept and printed back whole;
in the dashboard a `7` typed in the rating field vanished without a word. Now an empty
`--answer` is bad usage (exit 2), an answer is at most 10,000 characters (longer is bad usage
on the command line and refused by the rules), a long comment is echoed cut, and the form says
why a key is not taken."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from textual.widgets import Input

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import RunState
from phasegate.engine.run import feedback as policy
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.feedback import FeedbackPrompt

from .conftest import Run
from .helpers import SIZE, live_run, run_started, until_shown

ME = current_identity().user
MAX_ANSWER = 10_000  # characters of one answer (the README says so)
QUESTIONS = [
    {"id": "rating", "text": "Rate it (1-5)", "kind": "rating"},
    {"id": "comment", "text": "Comment", "kind": "text"},
    {"id": "risk", "text": "Any risk?", "kind": "text"},
]


async def _ended_run(db: str) -> str:
    """A run that has ended (no engine), whose feedback asks ME these questions."""
    now = time.time()
    events: list[ev.Event] = [
        run_started(
            now - 5,
            "fbin",
            ["t"],
            agent="a",
            user=ME,
            feedback={"ask": [ME], "at": "end", "questions": QUESTIONS},
        ),
        ev.FeedbackAsked(now - 1, "end", [ME]),
        ev.RunFinished(now, "succeeded", ""),
    ]
    run_id = await live_run(db, "fbin", events, dead=True)
    store = await SQLiteStore.open(db)
    try:
        await store.write_batch(run_id, [], summary={"status": "succeeded", "finished_at": now})
    finally:
        await store.close()
    return run_id


async def test_bad_answers_on_the_command_line_are_bad_usage(
    pg: Run, cli_env: dict[str, str]
) -> None:
    db = cli_env["PHASEGATE_DB"]
    os.makedirs(os.path.dirname(db), exist_ok=True)
    run_id = await _ended_run(db)
    empty = pg("feedback", run_id, "--answer", "risk=")
    assert empty.returncode == 2 and "--answer risk= gives no answer" in empty.stderr
    nine = pg("feedback", run_id, "--answer", "rating=9")
    assert nine.returncode == 2, nine.stderr
    assert "'rating' is a rating: a whole number from 1 to 5" in nine.stderr
    assert "refused" not in nine.stderr
    huge = pg("feedback", run_id, "--comment", "x" * 100_000)
    assert huge.returncode == 2 and f"at most {MAX_ANSWER:,}" in huge.stderr
    assert len(huge.stdout + huge.stderr) < 500
    assert json.loads(pg("show", run_id, "--json").stdout)["feedback"] == []  # none kept
    long = pg("feedback", run_id, "--rating", "4", "--comment", "y" * 9_000)
    assert long.returncode == 0, long.stderr
    assert len(long.stdout) < 300 and "9,000 characters" in long.stdout
    [given] = json.loads(pg("show", run_id, "--json").stdout)["feedback"]
    assert given["comment"] == "y" * 9_000 and given["answers"] == {
        "rating": "4",
        "comment": "y" * 9_000,
    }


def test_the_rules_refuse_a_long_answer_and_keep_no_empty_one() -> None:
    """What any client sends (a dashboard, the socket) is judged alike by the engine."""
    plan = {"ask": [ME], "at": "end", "questions": QUESTIONS}
    state = RunState(run_id="r", user=ME, feedback_plan=plan, feedback_asked=1.0)
    me = current_identity()
    long = policy.answer(state, me, 2.0, None, "", {"risk": "z" * (MAX_ANSWER + 1)})
    assert isinstance(long, str) and f"at most {MAX_ANSWER:,}" in long
    given = policy.answer(state, me, 2.0, 3, "ok", {"risk": "  "})
    assert isinstance(given, ev.FeedbackGiven)
    assert given.answers == {"rating": "3", "comment": "ok"}


async def test_a_key_the_rating_does_not_take_says_1_to_5(tmp_path: Path) -> None:
    db = f"{tmp_path}/f.db"
    run_id = await _ended_run(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await until_shown(pilot, "the form", lambda: isinstance(app.screen, FeedbackPrompt))
        await pilot.press("7")
        assert app.screen.query_one("#q-rating", Input).value == ""
        form = app.screen.query_one("Vertical")
        assert "a rating is one whole number from 1 to 5" in str(form.border_subtitle)
