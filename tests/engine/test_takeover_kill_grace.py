"""A take-over stops what the dead engine left with the grace the caller gives (the plan's
`kill_grace`), not a fixed 5 s: a process that ignores TERM is KILLed once that grace is over."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil

from phasegate.engine.durable.recovery import take_over
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project

from .helpers import ScriptedExecutor, run_plan

PLAN = """
name: one
agents: {w: {slots: 1}}
phases:
  - id: p
    tasks:
      - {id: a, run: "true"}
"""

IGNORES_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(60)"
)


async def test_take_over_kills_after_the_grace_it_is_given(tmp_path: Path) -> None:
    _, store = await run_plan(tmp_path, PLAN, ScriptedExecutor())
    events = [e for _, e in await store.read_events("run1")]
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.TaskFinished))
    state = project(events[:cut])  # (the engine died while `a` ran)
    run_id = f"run-g-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PHASEGATE_RUN_ID=run_id, PHASEGATE_TASK="a", PHASEGATE_ATTEMPT="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", IGNORES_TERM],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        entries = await take_over(state, run_id, {"a": "rerun"}, {}, grace=0.2)
        assert [(e["task"], e["action"], e["pids"]) for e in entries] == [
            ("a", "rerun", [proc.pid])
        ]
        assert proc.wait(timeout=10) == -9  # (TERM ignored: KILLed after the grace)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _orphan(env: dict[str, str]) -> psutil.Process:
    """A process of a dead engine: not under this process, as the new engine's own are."""
    launcher = subprocess.run(
        [sys.executable, "-c", f"import subprocess, sys; p = subprocess.Popen([sys.executable, "
         f"'-c', {IGNORES_TERM!r}], start_new_session=True, stdout=subprocess.DEVNULL, "
         "stderr=subprocess.DEVNULL); print(p.pid)"],
        env=env, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    orphan = psutil.Process(int(launcher.stdout))
    assert orphan.is_running() and os.getpid() not in [p.pid for p in orphan.parents()]
    return orphan


async def test_take_over_stops_the_dead_engine_s_gate_criterion(tmp_path: Path) -> None:
    """A gate's criterion under way when the engine died (a `make test` of minutes) ran on
    beside the one the new engine started: twice at once. It carries only the run's id. A
    notify command telling people something is left to end (nobody would send it again)."""
    _, store = await run_plan(tmp_path, PLAN, ScriptedExecutor())
    state = project(e for _, e in await store.read_events("run1"))
    run_id = f"run-c-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PHASEGATE_RUN_ID=run_id)
    env.pop("PHASEGATE_TASK", None)
    criterion = _orphan(env)
    telling = _orphan(env | {"PHASEGATE_EVENT": "gate.opened"})
    try:
        entries = await take_over(state, run_id, {}, {}, grace=0.2)
        assert entries == []  # (no task of the run was in flight)
        criterion.wait(timeout=10)  # (psutil.TimeoutExpired: it runs on)
        assert not criterion.is_running()
        assert telling.is_running() and telling.status() != psutil.STATUS_ZOMBIE
    finally:
        for orphan in (criterion, telling):
            with contextlib.suppress(psutil.Error):
                orphan.kill()
