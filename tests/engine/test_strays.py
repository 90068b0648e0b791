"""Finding and stopping what a task left behind by its PHASEGATE_* tag (engine/exec/strays.py),
with real processes; the engine's own use of it (as a subreaper) is tested with the real engine
process in tests/tui/test_strays_cli.py."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from phasegate.engine.exec.strays import describe, find, stop_strays


@pytest.fixture
def tagged() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start tagged `sleep`s in sessions of their own, as a task's `setsid` child would be;
    killed and waited for at the end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def _sleep(run_id: str, task: str, attempt: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PHASEGATE_RUN_ID": run_id,
        "PHASEGATE_TASK": task,
        "PHASEGATE_ATTEMPT": str(attempt),
    }
    return subprocess.Popen(["sleep", "300.141"], env=env, start_new_session=True)


def _until(what: str, check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_stop_strays_stops_only_the_attempt_it_names(
    tagged: list[subprocess.Popen[bytes]],
) -> None:
    run_id = f"t-{uuid.uuid4().hex[:8]}"  # (no other run on the machine has it)
    target, other_attempt, other_task, other_run = (
        _sleep(run_id, "t", 1),
        _sleep(run_id, "t", 2),
        _sleep(run_id, "u", 1),
        _sleep(run_id + "x", "t", 1),
    )
    tagged += [target, other_attempt, other_task, other_run]
    _until("the four to start", lambda: len(find(run_id, everywhere=True)) == 3)
    stopped = stop_strays(run_id, "t", 1, grace=1.0, everywhere=True)
    assert [s.pid for s in stopped] == [target.pid]
    assert target.wait(timeout=5) == -15  # TERM first
    assert describe(stopped) == f"stopped 1 process left behind (pid {target.pid} sleep)"
    assert all(p.poll() is None for p in (other_attempt, other_task, other_run))
    # a kept task's processes stay; the rest of the run goes
    rest = stop_strays(run_id, grace=1.0, keep={"u"}, everywhere=True)
    assert [s.pid for s in rest] == [other_attempt.pid]
    assert other_task.poll() is None and other_run.poll() is None


def test_a_process_that_is_not_a_subreaper_finds_nothing_of_its_own(
    tagged: list[subprocess.Popen[bytes]],
) -> None:
    """A Runner inside a test is no subreaper: it never looks beyond its tasks' groups, so it
    cannot stop another engine's processes of a run with the same id (tests reuse `run1`)."""
    run_id = f"t-{uuid.uuid4().hex[:8]}"
    tagged.append(_sleep(run_id, "t", 1))
    _until("it to start", lambda: len(find(run_id, everywhere=True)) == 1)
    assert find(run_id) == [] and stop_strays(run_id, grace=0.1) == []
    assert tagged[0].poll() is None


def test_a_process_s_session_is_read_from_its_own_field_not_its_terminal(
    tagged: list[subprocess.Popen[bytes]],
) -> None:
    # (the engine skips what shares its own session; in a container whose session leader is
    # outside its pid namespace, getsid() is 0, as every terminal-less process's tty_nr is: a
    # session read from the tty field hid every orphan there)
    from phasegate.engine.exec.strays import _stat

    leader = _sleep("t-session", "t", 1)
    tagged.append(leader)
    state, sid = _stat(leader.pid)
    assert state in (b"S", b"R") and sid == leader.pid == os.getsid(leader.pid)
    assert _stat(os.getpid())[1] == os.getsid(0)
