"""An adopted task whose run directory is removed while it runs: every line it prints after
that still reaches the store, and its exit status too (the engine read its output files again by
their path at each poll, so the lines after the removal were lost, and its status file could not
be written: `ended without an exit status`)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest

from phasegate.engine.durable.recovery import run_processes
from phasegate.engine.store.paths import run_dir, socket_path

from .conftest import Run, show_last, spawn_pg, until

ADOPT = """
name: adopt-removed
agents: {w: {}}
phases:
  - id: one
    tasks:
      - id: long
        run: >-
          sh -c 'i=0; while [ ! -f go ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done;
          echo last; exit 4'
        on_resume: adopt
        on_failure: continue
"""


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _lines(pg: Run) -> list[str]:
    shown = pg("logs", "last", "long").stdout.splitlines()
    return [line for line in shown if not line.startswith("──")]


@pytest.mark.slow
def test_an_adopted_task_loses_no_line_when_its_run_directory_is_removed(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "adopt.yaml").write_text(ADOPT)
    try:
        _take_over_and_remove(pg, tmp_path, cli_env)
    finally:
        (tmp_path / "go").touch()  # (a test failed half-way leaves no task looping)


def _take_over_and_remove(pg: Run, tmp_path: Path, cli_env: dict[str, str]) -> None:
    assert pg("run", "adopt.yaml", "--detach").returncode == 0
    until("long's first line", lambda: "line 1" in _lines(pg))
    pid = show_last(pg)["engine_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    until("the engine to die", lambda: _zombie(pid))
    run_id = str(show_last(pg)["id"])
    directory = Path(run_dir(cli_env["PHASEGATE_DB"], run_id))
    resumed = spawn_pg(tmp_path, cli_env, "resume", "last", "--headless")
    try:
        until("the take-over", lambda: show_last(pg)["engine_pid"] == resumed.pid)
        adopted = len(_lines(pg))
        until("a line read by the new engine", lambda: len(_lines(pg)) > adopted)
        shutil.rmtree(directory)  # while long runs on, adopted
        # the engine makes the directory again (with its socket) within a second or so
        removed = len(_lines(pg))
        until("the run's socket made again", lambda: os.path.exists(socket_path(str(directory))))
        until("a line printed after the removal", lambda: len(_lines(pg)) > removed)
        # (where its exit status is written: made again with the socket)
        until("the run's tasks directory made again", lambda: (directory / "tasks").is_dir())
        (tmp_path / "go").touch()
        out, err = resumed.communicate(timeout=60)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    assert resumed.returncode == 0, out + err
    assert "long attempt 1: adopted" in out and "exited with code 4" in out
    assert "task long attempt 1: its output files were removed" in err
    lines = _lines(pg)
    assert lines == [f"line {i}" for i in range(1, len(lines))] + ["last"]  # every line, once
    long = {t["id"]: t for t in show_last(pg)["tasks"]}["long"]  # type: ignore[attr-defined]
    assert (long["attempts"], long["exit_code"]) == (1, 4)
    assert run_processes(run_id) == {}
