"""Ctrl-C on a command the engine has not answered yet (stopped, busy) exits 130 and says the
engine has it and may still apply it, and how to see whether it did: it said `Aborted!`, exit 1,
and the approval took effect once the engine went on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from .conftest import GATED_PLAN, Run, show_last, spawn_pg, until


def _waiting(sender: psutil.Process) -> bool:
    with open(f"/proc/{sender.pid}/wchan") as f:
        blocked = f.read() == "do_epoll_wait"
    return blocked and bool(sender.net_connections(kind="unix"))


@pytest.mark.slow
def test_ctrl_c_on_an_unanswered_approval_says_it_may_still_apply(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "gated.yaml").write_text(GATED_PLAN)
    started = pg("run", "gated.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    until("the gate to open", lambda: '"open"' in pg("gates", run_id, "--json").stdout)
    engine = psutil.Process(int(str(show_last(pg)["engine_pid"])))
    engine.suspend()
    try:
        approve = spawn_pg(tmp_path, cli_env, "approve", run_id, "review", "--reason", "ok")
        sender = psutil.Process(approve.pid)
        # (connected, and waiting in its loop: the command written, the answer awaited)
        until("the approval to be sent", lambda: _waiting(sender))
        os.kill(approve.pid, signal.SIGINT)
        _, err = approve.communicate(timeout=30)
    finally:
        engine.resume()
    assert approve.returncode == 130, err
    assert "has the approve command and may still apply it" in err
    assert f"`phasegate gates {run_id}`" in err and "Aborted" not in err
    # (and it did: the engine, going on, took the approval it had)
    until("the run to end", lambda: show_last(pg)["status"] == "succeeded")
