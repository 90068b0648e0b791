"""A headless run whose log lines have no reader any more goes on to its end: `phasegate run
--headless | head -3` (the pipe closes), or a terminal that closes (SIGHUP, an SSH session
dropped). A failed write stopped the engine in the middle of a task's end (that task then
failed, killed), or left it hung with the run held."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from .conftest import PHASEGATE, Run, show_last, until

PLAN = """
name: quiet
agents: {w: {}}
phases:
  - id: p
    tasks:
      - {id: a, run: "true"}
      - {id: b, run: "SLEEP", needs: [a]}
      - {id: c, run: "true", needs: [b]}
"""


def _succeeded(pg: Run) -> None:
    shown = show_last(pg)
    assert shown["status"] == "succeeded", shown
    tasks = shown["tasks"]
    assert isinstance(tasks, list) and {t["status"] for t in tasks} == {"succeeded"}


def test_a_run_whose_reader_went_away_goes_on_to_its_end(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN.replace("SLEEP", "true"))
    read, write = os.pipe()
    os.close(read)  # (`| head -3` that has read its lines: every write fails)
    try:
        done = subprocess.run(
            [PHASEGATE, "run", "plan.yaml", "--headless"],
            cwd=tmp_path,
            env=cli_env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _succeeded(pg)


def test_a_run_whose_terminal_closed_goes_on_to_its_end(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # a notify command that fails writes a warning on stderr as the run ends: gone with the
    # terminal too (the write raised, and the run's end was lost)
    plan = PLAN.replace("SLEEP", "sleep 1").replace("name: quiet", 'name: quiet\nnotify: "exit 3"')
    (tmp_path / "plan.yaml").write_text(plan)
    proc = subprocess.Popen(
        [PHASEGATE, "run", "plan.yaml", "--headless"],
        cwd=tmp_path,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def b_started() -> bool:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        return " b " in line and "started" in line

    until("task b to start", b_started)
    proc.send_signal(signal.SIGHUP)
    assert proc.stderr is not None
    proc.stderr.close()  # (as a hung-up terminal: a write there fails)
    proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()
    assert proc.returncode == 0
    _succeeded(pg)
