"""The audit's `run started` row says from where the run was started: the starter's terminal
and SSH connection. An engine started for a dashboard or `--detach` has no terminal of its own:
it records its launcher's (Job.tty)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phasegate.engine.model import events as ev
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from tests.engine.helpers import write_plan

PLAN = """
name: where
agents:
  a: {command: "bash -c {script}"}
phases:
  - id: p
    tasks:
      - {id: x, run: "true"}
"""


def _no_terminal(fd: int) -> str:
    raise OSError(25, "Inappropriate ioctl for device")


async def test_an_engine_without_a_terminal_records_its_launchers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "ttyname", _no_terminal)  # (as an engine of its own: stdin a pipe)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.5 5555 10.0.0.1 22")
    plan = load_plan(str(write_plan(tmp_path, PLAN)))
    store = MemoryStore()
    await Runner(plan, store, "r1", run_dir=str(tmp_path), tty="/dev/pts/9").run()
    started = next(e for _, e in await store.read_events("r1") if isinstance(e, ev.RunStarted))
    assert (started.tty, started.ssh) == ("/dev/pts/9", "10.0.0.5 5555 10.0.0.1 22")
