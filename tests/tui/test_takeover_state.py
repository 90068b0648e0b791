"""What an operator or an approver did before `kill -9` of the engine holds after `resume`: the
fold is the only run state, so a take-over rebuilds it (priorities, a pause, a gate's votes,
a rejection's feedback)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.store import SQLiteStore

from .conftest import Run, spawn_pg
from .conftest import show_last as _show
from .conftest import until as _until

ME = psutil.Process().username()


def _tasks(pg: Run) -> dict[str, dict[str, object]]:
    return {str(t["id"]): t for t in _show(pg)["tasks"]}  # type: ignore[attr-defined]


def _lines(tmp_path: Path) -> list[str]:
    log = tmp_path / "ran.log"
    return log.read_text().splitlines() if log.exists() else []


def _start(pg: Run, tmp_path: Path, plan: str, first_line: str) -> str:
    (tmp_path / "plan.yaml").write_text(plan)
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    _until(f"'{first_line}' in the log", lambda: first_line in _lines(tmp_path))
    return started.stdout.strip()


def _kill_engine(pg: Run) -> None:
    pid = _show(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _until("the run to be interrupted", lambda: _show(pg)["status"] == "interrupted")


def _take_over(tmp_path: Path, env: dict[str, str], pg: Run) -> subprocess.Popen[str]:
    engine = spawn_pg(tmp_path, env, "resume", "last", "--headless")
    _until("the new engine", lambda: _show(pg)["engine_alive"] is True)
    return engine


PRIORITY_AND_PAUSE = """
name: steer
kill_grace: 1s
agents: {w: {slots: 1}}
phases:
  - id: one
    tasks:
      - {id: hold, run: "sh -c 'echo hold >> ran.log; sleep 30'", priority: 9}
      - {id: x, run: "sh -c 'echo x >> ran.log'"}
      - {id: y, run: "sh -c 'echo y >> ran.log'"}
"""


@pytest.mark.slow
def test_a_priority_and_a_pause_set_before_kill_9_hold_after_resume(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _start(pg, tmp_path, PRIORITY_AND_PAUSE, "hold")
    assert pg("priority", "last", "y", "5").returncode == 0
    assert pg("pause", "last").returncode == 0
    assert pg("skip", "last", "hold", "--reason", "enough").returncode == 0
    _until("hold to be skipped", lambda: _tasks(pg)["hold"]["status"] == "skipped")
    _kill_engine(pg)
    engine = _take_over(tmp_path, cli_env, pg)
    try:
        shown = _show(pg)
        assert shown["status"] == "paused"
        tasks = _tasks(pg)
        assert tasks["y"]["priority"] == 5 and tasks["x"]["priority"] == 0
        assert "x" not in _lines(tmp_path) and "y" not in _lines(tmp_path)
        going = pg("resume", "last")
        assert going.returncode == 0, going.stderr
        out, err = engine.communicate(timeout=60)
        assert engine.returncode == 0, out + err
        # the take-over said so (it printed only `run taken over`, and the run waited)
        assert "stays paused, as it was: `phasegate resume" in out, out
    finally:
        if engine.poll() is None:
            engine.kill()
    # y (priority 5) before x (priority 0), each once; hold was not run again
    assert _lines(tmp_path) == ["hold", "y", "x"]
    # x and y were ready when the engine died: the take-over did not make them ready again
    events = [e for _, e in asyncio.run(_events(cli_env["PHASEGATE_DB"]))]
    ready = [e.task for e in events if isinstance(e, ev.TaskReady)]
    assert sorted(ready) == ["hold", "x", "y"], ready


async def _events(db: str) -> list[tuple[int, ev.Event]]:
    store = await SQLiteStore.open(db)
    try:
        return await store.read_events((await store.list_runs(1))[0].id)
    finally:
        await store.close()


STOPPING = """
name: stopping
kill_grace: 60s
agents: {w: {slots: 1}, v: {slots: 1}}
phases:
  - id: one
    tasks:
      # ignores TERM: an operator's skip is still under way when the engine is killed
      - id: stubborn
        agent: w
        run: "sh -c 'trap \\"\\" TERM; echo stubborn >> ran.log; while :; do sleep 0.1; done'"
      - {id: later, agent: v, run: "sh -c 'echo later >> ran.log'", needs: [gate]}
      - {id: gate, agent: v, run: "sh -c 'echo gate >> ran.log; sleep 30'"}
  - id: two
    tasks:
      - {id: after, agent: w, run: "sh -c 'echo after >> ran.log'"}
"""


@pytest.mark.slow
@pytest.mark.parametrize("scan", ["0", "1"], ids=["kernel-lists", "proc-scan"])
def test_slots_a_held_phase_and_a_stop_under_way_hold_after_kill_9(
    pg: Run, tmp_path: Path, cli_env: dict[str, str], scan: str
) -> None:
    # (with "1", the scan that replaces /proc/PID/task/TID/children where a kernel has none: there
    # the skipped gate's exited sleep, the engine's orphan, must still be reaped for it to end)
    cli_env["PHASEGATE_PROC_SCAN"] = scan
    _start(pg, tmp_path, STOPPING, "stubborn")
    _until("gate to start", lambda: "gate" in _lines(tmp_path))
    assert pg("slots", "last", "w", "3").returncode == 0
    assert pg("pause", "last", "--phase", "two").returncode == 0
    skipping = pg("skip", "last", "stubborn", "--reason", "not today")
    assert skipping.returncode == 0 and "being stopped" in skipping.stdout, skipping.stderr
    assert _tasks(pg)["stubborn"]["status"] == "running"  # it ignores TERM; KILL comes in 60 s
    _kill_engine(pg)
    engine = _take_over(tmp_path, cli_env, pg)
    try:
        # the stop under way ends as the operator asked: skipped, not run again
        _until("stubborn to be skipped", lambda: _tasks(pg)["stubborn"]["status"] == "skipped")
        shown = _show(pg)
        assert {a["id"]: a["slots"] for a in shown["agents"]}["w"] == 3  # type: ignore[index]
        assert _lines(tmp_path).count("stubborn") == 1
        # gate (rerun after the take-over) runs; phase two stays held when the run reaches it
        assert pg("skip", "last", "gate", "--reason", "enough").returncode == 0
        _until("later to run", lambda: "later" in _lines(tmp_path))
        _until("phase two to be reached", lambda: _phase(pg, "two") == "running")
        # (its tasks' starts would be in the same batch of events as the phase's)
        assert _tasks(pg)["after"]["status"] in ("pending", "ready")
        assert "after" not in _lines(tmp_path)
        assert pg("resume", "last", "--phase", "two").returncode == 0
        out, err = engine.communicate(timeout=60)
        assert engine.returncode == 0, out + err
    finally:
        if engine.poll() is None:
            engine.kill()
    assert _lines(tmp_path)[-1] == "after"


def _phase(pg: Run, phase: str) -> object:
    return {p["id"]: p for p in _show(pg)["phases"]}[phase]["status"]  # type: ignore[attr-defined]


QUORUM = """
name: quorum
agents: {w: {}}
phases:
  - id: one
    tasks:
      - {id: build, run: "sh -c 'echo build >> ran.log'"}
  - id: two
    tasks:
      - {id: ship, run: "sh -c 'echo ship >> ran.log'"}
gates:
  - {id: review, after: one, approval: manual, quorum: 2}
"""


@pytest.mark.slow
def test_a_gate_with_one_of_two_approvals_stays_at_one_of_two_after_kill_9(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _start(pg, tmp_path, QUORUM, "build")
    _until("the gate to open", lambda: '"review"' in pg("gates", "--json").stdout)
    voted = pg("approve", "last", "review", "--reason", "looks fine")
    assert voted.returncode == 0, voted.stderr
    before = next(p for p in _show(pg)["phases"] if p["id"] == "one")  # type: ignore[attr-defined]
    _kill_engine(pg)
    engine = _take_over(tmp_path, cli_env, pg)
    try:
        # phase one had ended: the take-over goes on at its gate, without starting it again
        # (it started and finished it again at once, its duration then 0)
        after = next(p for p in _show(pg)["phases"] if p["id"] == "one")  # type: ignore[attr-defined]
        assert after == before
        gates = json.loads(pg("gates", "last", "--json").stdout)
        gate = next(g for g in gates["gates"] if g["id"] == "review")
        assert gate["status"] == "open" and gate["attempt"] == 1
        assert gate["approved_by"] == [ME]
        again = pg("approve", "last", "review", "--reason", "twice")
        assert again.returncode == 1 and "already" in again.stderr, again.stderr
        assert "ship" not in _lines(tmp_path)
        assert pg("cancel", "last", "--reason", "done here").returncode == 0
        engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()
    decisions = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    votes = [(d["decision"], d["accepted"]) for d in decisions if d["user"] == ME and d["gate"]]
    assert votes == [("approve", True), ("approve", False)]
    # the operator's cancel is in the trail too, with her uid
    assert ("cancel", True) in [(d["decision"], d["accepted"]) for d in decisions]


FEEDBACK = """
name: feedback
kill_grace: 1s
agents: {w: {}}
phases:
  - id: one
    tasks:
      # its first attempt ends at once; the next ones run until the engine is killed
      - id: work
        run: >-
          sh -c 'echo "fb=$PHASEGATE_FEEDBACK" >> ran.log; [ $PHASEGATE_ATTEMPT = 1 ] || sleep 30'

gates:
  - id: review
    after: one
    approval: manual
    on_reject: {rewind_to: one, max_attempts: 3}
"""


FED = f"fb=rejected by {ME}: add tests"


@pytest.mark.slow
def test_the_feedback_of_a_rejection_reaches_the_attempt_after_kill_9(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _start(pg, tmp_path, FEEDBACK, "fb=")
    _until("the gate to open", lambda: '"review"' in pg("gates", "--json").stdout)
    rejected = pg("reject", "last", "review", "--reason", "add tests")
    assert rejected.returncode == 0, rejected.stderr
    _until("work to run again", lambda: _lines(tmp_path).count(FED) == 1)
    _kill_engine(pg)
    engine = _take_over(tmp_path, cli_env, pg)
    try:
        _until("work to run after the take-over", lambda: len(_lines(tmp_path)) == 3)
        assert _lines(tmp_path) == ["fb=", FED, FED]
        assert pg("cancel", "last", "--reason", "seen").returncode == 0
        engine.communicate(timeout=60)
    finally:
        if engine.poll() is None:
            engine.kill()


async def test_a_stored_status_this_phasegate_does_not_know_is_shown_with_a_warning(
    pg: Run, cli_env: dict[str, str]
) -> None:
    from phasegate.engine.model import events as ev
    from phasegate.engine.store import SQLiteStore
    from tests.fixtures import Recording, load_run

    started = ev.RunStarted(
        1.7e9, "odd1", "odd", "odd.yaml", phases=[{"id": "one"}],
        tasks=[{"id": "t", "phase": "one"}], agents=[{"id": "w"}],
    )  # fmt: skip
    finished = ev.TaskFinished(1.7e9 + 1, "t", 1, "exploded", 0)
    store = await SQLiteStore.open(cli_env["PHASEGATE_DB"])
    try:
        await load_run(store, Recording([(1, started), (2, finished)]))
    finally:
        await store.close()
    shown = pg("show", "odd1")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "warning  task 't': unknown TaskStatus 'exploded'" in shown.stdout
    data = json.loads(pg("show", "odd1", "--json").stdout)
    assert data["tasks"][0]["status"] == "unknown"
    assert data["anomalies"] == ["task 't': unknown TaskStatus 'exploded'"]
