"""Regression: with the run's engine stopped (SIGSTOP, a suspended machine), `approve RUN G`
said after 34 s that "the engine ... closed the connection without an answer", exit 1; once
the engine went on it applied the vote and the gate passed. An engine that does not answer in
time still holds the command: the user is told that it has not answered yet, that it may still
apply the command, and how to see whether it did (exit 1 still: it timed out).

The engine here is a socket that takes connections and never answers, held by this process
(the run's lease names it, so its engine lives)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

import phasegate.engine.client.runs as client
from phasegate.engine.client import NoAnswer, SQLiteStore, deliver
from phasegate.engine.model import commands as cmd
from phasegate.engine.store.base import RunRow
from phasegate.engine.store.paths import run_dir, socket_path

RUN = "5107e4a1"


@pytest.fixture
async def silent_engine(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A live run whose engine (this process) takes each connection and never answers."""
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    me = os.getpid()
    await store.create_run(RunRow(RUN, "p", "x.yaml", "running", time.time()))
    await store.acquire_lease(RUN, me, psutil.Process(me).create_time(), time.time(), lambda *_: 1)
    door = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    door.bind(socket_path(run_dir(db, RUN)))
    door.listen(8)  # (the kernel queues the connection: never accepted, never answered)
    try:
        yield store
    finally:
        door.close()
        await store.close()


@pytest.mark.parametrize(
    ("order", "check"),
    [(cmd.Approve("g", "ok"), f"phasegate gates {RUN}"), (cmd.Pause(), f"phasegate audit {RUN}")],
)
async def test_an_engine_that_does_not_answer_in_time_may_still_apply_the_command(
    silent_engine: SQLiteStore,
    monkeypatch: pytest.MonkeyPatch,
    order: cmd.Command,
    check: str,
) -> None:
    monkeypatch.setattr(client, "ANSWER_TIMEOUT", 0.3)
    with pytest.raises(NoAnswer) as late:
        await deliver(silent_engine, RUN, order)
    said = str(late.value)
    assert "closed the connection" not in said
    assert "has not answered" in said and "may still apply it" in said
    assert check in said  # how to see whether it did
    assert late.value.exit_code == 1  # (timed out: DECISIONS.md)
