"""An attempt given up with its SSH connection (its process perhaps still running on the host) is
known to a take-over: its `task.finished` records the host and process group, the fold keeps it,
and the engine that takes the run over stops it on the host's next connection, before the retry
runs there, as the engine that lost it would have."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from phasegate.engine.durable import recovery
from phasegate.engine.exec.ssh_reap import LostAttempts, settle
from phasegate.engine.model import events as ev
from phasegate.engine.model.event_base import from_json
from phasegate.engine.model.fold import project
from phasegate.engine.model.state import LostAttempt
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from ..engine.helpers import write_plan
from .conftest import Sshd, stop_left
from .test_ssh_lost import _first_attempt_told, _group_alive, _lines, _plan, _until

HOST = "me@10.0.0.9:22"
LOST = "connection to me@10.0.0.9:22 lost: timed out; it may still be running there (pid 4242)"


def _started(agents: list[str]) -> list[ev.Event]:
    return [
        ev.RunStarted(
            1.0,
            "r",
            "remote",
            "plan.yaml",
            phases=[{"id": "one"}],
            tasks=[{"id": "long", "phase": "one", "agent": agents[0]}],
            agents=[{"id": a, "slots": 1} for a in agents],
        ),
        ev.TaskStarted(2.0, "long", 1, agents[0], 0, 0, "sleep"),
        ev.TaskFinished(3.0, "long", 1, "failed", None, reason=LOST, lost_on=HOST, lost_pgid=4242),
        ev.TaskRetrying(3.0, "long", 2, 1.0, LOST),
    ]


def test_an_attempt_given_up_with_its_connection_is_kept_by_the_fold_until_one_runs_there() -> None:
    events = _started(["far"])
    assert project(events).tasks["long"].lost == [LostAttempt(HOST, 1, 4242, "far")]
    # the retry could not run there (the host still unreachable): still kept
    unrun = ev.TaskFinished(5.0, "long", 2, "failed", None, reason="cannot connect; not run there")
    events += [ev.TaskStarted(4.0, "long", 2, "far", 0, 0, "sleep"), unrun]
    assert project(events).tasks["long"].lost == [LostAttempt(HOST, 1, 4242, "far")]
    # one ran on the host (its connection stopped the lost one first): gone
    events += [
        ev.TaskRetrying(5.0, "long", 3, 1.0, "x"),
        ev.TaskStarted(6.0, "long", 3, "far", 0, 0, "sleep"),
        ev.TaskFinished(7.0, "long", 3, "succeeded", 0),
    ]
    assert project(events).tasks["long"].lost == []


def test_a_lost_attempt_is_stored_with_its_host_and_other_task_ends_are_stored_as_before() -> None:
    lost = _started(["far"])[2]
    assert isinstance(lost, ev.TaskFinished)
    kind, version, text = lost.record()
    assert from_json(kind, lost.ts, version, text) == lost
    plain = ev.TaskFinished(3.0, "long", 1, "succeeded", 0)
    stored = '{"task":"long","attempt":1,"status":"succeeded","exit_code":0,"lines":0,'
    assert plain.to_json() == stored + '"dropped":0,"reason":""}'  # (the audit's bytes)
    assert from_json(kind, 3.0, version, plain.to_json()).lost_on == ""  # (an old event)


@pytest.mark.slow
async def test_regression_a_take_over_stops_the_attempt_its_dead_engine_lost_before_the_retry(
    sshd: Sshd, tmp_path: Path, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: an engine that died after giving up an attempt with its connection left no
    trace of it; the engine taking the run over ran the retry on the host beside it."""
    # the host is another machine: the take-over finds none of its processes on this one (here
    # they are, by their PHASEGATE_RUN_ID, and would be stopped as this machine's leftovers)
    monkeypatch.setattr(recovery, "run_processes", lambda run_id, untasked=False: {})
    flag, log = tmp_path / "go", tmp_path / "ran.log"
    store = MemoryStore()
    plan = load_plan(str(write_plan(tmp_path, _plan(sshd, log, flag, "600s"))))
    first = Runner(plan, store, run_id, run_dir=str(tmp_path))
    seen: dict[str, Any] = {}

    def given_up() -> bool:
        t = first.state.tasks["long"]
        return t.status is TaskStatus.READY and "lost" in t.reason

    async def watch_second() -> None:
        await _until("attempt 2 on the host", lambda: "2" in _lines(log), 60)
        seen["beside"] = _group_alive(seen["pgid"])
        flag.touch()

    dead = asyncio.ensure_future(first.run())
    watcher: asyncio.Future[None] | None = None
    try:
        seen["pgid"] = await _first_attempt_told(store, run_id)
        await asyncio.to_thread(sshd.stop)  # no sshd, and the connection cut
        await _until("attempt 1 given up, its retry waiting", given_up)
        dead.cancel()  # the engine dies: what it kept in memory goes with it
        with pytest.raises(asyncio.CancelledError):
            await dead
        first._attempts.forget("long")  # (its retry's timer, left in this test's loop)
        assert _group_alive(seen["pgid"])  # attempt 1 runs on, on the host
        await asyncio.to_thread(sshd.start)
        watcher = asyncio.ensure_future(watch_second())
        taker = Runner(plan, store, run_id, run_dir=str(tmp_path), resume={})
        deadline = time.monotonic() + 120
        state = await asyncio.wait_for(taker.run(), deadline - time.monotonic())
        await watcher
        assert seen["beside"] is False, "attempt 1 still ran on the host when attempt 2 started"
        t = state.tasks["long"]
        assert t.status is TaskStatus.SUCCEEDED and t.attempts == 2, t.reason
        assert t.lost == []
        said = [o.text for o in await store.read_output(run_id, "long", 2)]
        assert any(f"pid {seen['pgid']}" in s and "stopped first" in s for s in said), said
    finally:
        dead.cancel()
        if watcher is not None:
            watcher.cancel()
        stop_left(tmp_path)


def test_an_attempt_a_take_over_could_not_reach_is_kept_by_the_fold() -> None:
    """Regression: an engine taking a run over while the host of a running attempt was out of
    reach kept that attempt as lost in its memory only; an engine taking the run over after it
    (the second died too) ran the retry on the host beside it."""
    events = _started(["far"])[:2]  # (attempt 1 running when the first engine died)
    unreached = {
        "task": "long",
        "attempt": 1,
        "action": "rerun",
        "pids": [],
        "note": f"{HOST} unreachable: timed out",
        "lost_on": HOST,
    }
    events.append(ev.RunRecovered(4.0, "me", 99, 3.5, [unreached]))
    t = project(events).tasks["long"]
    assert t.lost == [LostAttempt(HOST, 1, 0, "far")] and t.status is TaskStatus.PENDING
    reached = {**unreached, "note": "", "lost_on": ""}  # (as before: nothing kept)
    assert (
        project([*events[:2], ev.RunRecovered(4.0, "me", 99, 3.5, [reached])]).tasks["long"].lost
        == []
    )


async def test_a_take_over_that_cannot_reach_the_host_says_the_attempt_is_lost_there() -> None:
    async def unreachable(command: str) -> str:
        raise OSError("timed out")

    ex: Any = SimpleNamespace(key=HOST, lost=LostAttempts(HOST), run=unreachable)
    action, note, lost_on = await settle(ex, "r", "long", 1, "adopt")
    assert (action, lost_on) == ("rerun", HOST) and "unreachable: timed out" in note
    assert ex.lost and "attempt 1 of long" in ex.lost.note()
