"""Regression: a shared run's engine died, and users other than its starter were offered what
they cannot do. The dashboard's `r` crashed for them with a traceback (the engine's log in the
run's directory is the starter's: PermissionError); `resume` said the database directory
"belongs to uid 1007 ... choose another with --db"; a command sent to the run said that
`phasegate resume RUN` takes it over. A take-over starts an engine that writes the run's
database, which is its starter's alone: only they can, and the others are told so.

The run's database here belongs to another OS user (`nobody`), as a shared run's database
belongs to its starter for the members of its group (chown: root, as CI runs)."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

import pytest

from phasegate.engine.client import NoEngine, SQLiteStore, deliver
from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.store.base import RunRow
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.dashboard import DashboardScreen
from phasegate.tui.dashboard.screens.engine_lost import EngineLostScreen

from .conftest import PHASEGATE
from .helpers import SIZE, dashboard, run_started, text


def _other() -> pwd.struct_passwd | None:
    try:
        found = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return found if found.pw_uid != os.geteuid() else None


OTHER = _other()
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or OTHER is None,
    reason="giving a database to another OS user (chown to `nobody`) needs root and that user",
)
STARTER = OTHER.pw_name if OTHER is not None else "nobody"
PLAN = """\
name: p
agents: {a: {slots: 1}}
phases:
  - id: p
    tasks:
      - {id: first, run: "true", agent: a}
      - {id: t, run: "sleep 1", agent: a}
"""


async def _interrupted_run_of_another_user(tmp_path: Path) -> tuple[str, str]:
    """A run whose engine died (a task in flight), in a database that belongs to `nobody`,
    who started the run."""
    db = str(tmp_path / "data" / "team.db")
    run_id = "deadbeef"
    now = time.time()
    store = await SQLiteStore.open(db)
    try:
        await store.create_run(RunRow(run_id, "p", "x.yaml", "running", now, user=STARTER))
        await store.acquire_lease(run_id, 1, 0.5, now, lambda *_: True)  # (pid 1: not its engine)
        started = run_started(now, run_id, ["first", "t"], agent="a", user=STARTER)
        events = [started, ev.TaskStarted(now, "t", 1, "a", 1, 1)]
        await store.write_batch(run_id, list(enumerate(events, 1)))
        await store.save_plan(run_id, PLAN, {})
    finally:
        await store.close()
    assert OTHER is not None
    for path in (db, os.path.dirname(db)):
        os.chown(path, OTHER.pw_uid, OTHER.pw_gid)
    return db, run_id


async def test_the_dashboard_tells_who_can_take_the_run_over_and_offers_no_r(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, run_id = await _interrupted_run_of_another_user(tmp_path)
    started: list[str] = []
    monkeypatch.setattr("phasegate.tui.launch.take_over", lambda *a: started.append("r"))
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        shown = " ".join(" ".join(text(s).split()) for s in app.screen.query("Static"))
        assert f"only {STARTER} (the run's starter) can take it over" in shown
        # (the command, a long path wrapped across lines as it may be)
        assert f"phasegate resume {run_id} --db" in shown and db in "".join(shown.split())
        assert "resume it now" not in shown
        await pilot.press("r")  # (offered nothing: nothing happens)
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen) and started == []
        await pilot.press("escape")
        screen = await dashboard(app, pilot)
        footer = [b.binding.action for b in screen.active_bindings.values() if b.enabled]
        assert "take_over" not in footer
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and started == []


async def test_a_take_over_that_fails_is_said_in_the_dashboard_never_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever stops the new engine (here: its log cannot be written) is said, and the
    dashboard goes on."""
    db, run_id = await _interrupted_run_of_another_user(tmp_path)
    for path in (db, os.path.dirname(db)):  # (this user's again: `r` is offered)
        os.chown(path, os.geteuid(), os.getegid())

    def refused(*_: object) -> None:
        raise PermissionError(13, "Permission denied", f"{tmp_path}/engine.log")

    monkeypatch.setattr("phasegate.tui.launch.take_over", refused)
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, EngineLostScreen)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        said = [n.message for n in app._notifications]
        assert any("Permission denied" in m for m in said), said
    assert app.return_code in (None, 0)


async def test_resume_by_another_user_names_who_can_and_is_refused(tmp_path: Path) -> None:
    db, run_id = await _interrupted_run_of_another_user(tmp_path)
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PHASEGATE_DB", None)
    done = subprocess.run(
        [PHASEGATE, "resume", run_id, "--headless", "--db", db],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    said = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr  # refused: the message says who may
    assert f"only {STARTER} (the run's starter) can take it over" in said
    assert f"`phasegate resume {run_id} --db {db}`" in said
    assert "belongs to uid" not in said and "nothing was done" in said
    assert not os.path.exists(os.path.join(os.path.dirname(db), "runs", run_id, "engine.log"))


async def test_a_command_to_the_dead_run_says_who_can_take_it_over(tmp_path: Path) -> None:
    db, run_id = await _interrupted_run_of_another_user(tmp_path)
    store = await SQLiteStore.open(db)
    try:
        with pytest.raises(NoEngine) as refused:
            await deliver(store, run_id, cmd.Pause())
    finally:
        await store.close()
    said = str(refused.value)
    assert f"only {STARTER} (the run's starter) can take it over" in said
    assert f"`phasegate resume {run_id} --db {db}`" in said


def test_a_database_of_yours_in_another_users_directory_is_theirs_to_take_over(
    tmp_path: Path,
) -> None:
    """Found by a review: the hint said `phasegate resume` takes it over (the file is yours),
    and the engine then refused it (its directory is not): both read the two alike now."""
    from phasegate.engine.client import taker

    assert OTHER is not None
    place = tmp_path / "theirs"
    place.mkdir()
    (place / "team.db").write_bytes(b"")
    os.chown(place, OTHER.pw_uid, OTHER.pw_gid)
    assert taker(str(place / "team.db")) == STARTER
    assert taker(str(tmp_path / "mine.db")) is None
