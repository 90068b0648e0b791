"""Leaving the dashboard: ctrl+q (where Textual's ctrl+c points) asks as `q` does whether to stop
a run that is going, from any screen over the dashboard; the hint printed on leaving names the
database a run is in, so that copying it finds the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from phasegate.engine.client import db_flag
from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.help import HelpScreen
from phasegate.tui.dashboard.screens.quit import QuitScreen

from .helpers import SIZE, dashboard, live_run, run_started, until_shown
from .helpers import commands as sent_commands


async def _going(db: str) -> str:
    now = time.time()
    started = run_started(now, "going", ["t"], agent="a")
    return await live_run(db, "going", [started, ev.TaskStarted(now, "t", 1, "a", 1, 1)])


async def test_ctrl_q_asks_whether_to_stop_the_run_even_from_the_help(tmp_path: Path) -> None:
    db = f"{tmp_path}/q.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("l")
        await pilot.pause()
    assert app.return_value == "left"
    assert await sent_commands(db, run_id) == []  # the run goes on


def test_the_hint_on_leaving_names_a_database_other_than_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHASEGATE_DB", str(tmp_path / "default.db"))
    assert db_flag(str(tmp_path / "default.db")) == ""
    assert db_flag(str(tmp_path / "my runs.db")) == f" --db '{tmp_path}/my runs.db'"


def test_run_detach_says_how_to_attach_to_a_run_in_another_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    (tmp_path / "one.yaml").write_text(
        "name: one\nagents: {w: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
    )
    monkeypatch.setenv("PHASEGATE_DB", str(tmp_path / "default.db"))
    pg = [sys.executable, "-m", "phasegate.tui.cli.main"]
    done = subprocess.run(
        [*pg, "run", "one.yaml", "--detach", "--db", "other.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert f"`phasegate attach {run_id} --db {tmp_path}/other.db`" in done.stderr


async def test_the_footer_offers_resume_while_the_run_is_paused_and_p_resumes(
    tmp_path: Path,
) -> None:
    from phasegate.tui.dashboard.widgets.header import RunHeader

    from .helpers import text

    db = f"{tmp_path}/p.db"
    now = time.time()
    run_id = await _going(db)
    store = await SQLiteStore.open(db)
    try:
        seq = (await store.read_events(run_id))[-1][0]
        await store.write_batch(run_id, [(seq + 1, ev.RunPaused(now, "alice"))])
    finally:
        await store.close()
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await dashboard(app, pilot)
        header = screen.query_one(RunHeader)
        await until_shown(pilot, "the paused run", lambda: "paused" in text(header))
        await pilot.pause()
        shown = screen.active_bindings["p"]  # (what the footer shows for `p`)
        assert shown.binding.description == "Resume" and shown.enabled
        await pilot.press("p")
        await pilot.pause()
    assert [kind for kind, _ in await sent_commands(db, run_id)] == ["resume"]


async def test_ctrl_c_says_how_to_quit_in_words_not_markup(tmp_path: Path) -> None:
    # (toasts are plain text here, so Textual's own `Press [b]q[/b]` showed its brackets)
    db = f"{tmp_path}/c.db"
    run_id = await _going(db)
    app = PhasegateApp(db, run_id)
    told: list[tuple[str, bool]] = []
    plain = app.notify

    def notify(message: str, **kw: object) -> None:
        told.append((message, bool(kw.get("markup", False))))
        plain(message, **kw)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await dashboard(app, pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert told == [("Press [b]q[/b] or [b]ctrl+q[/b] to quit", True)]
