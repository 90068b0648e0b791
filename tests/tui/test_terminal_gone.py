"""A dashboard leaves when its terminal goes, whatever its controlling-terminal situation.

Regression: started through `su USER -c` (or `setsid`), the dashboard has no controlling
terminal: its check that the terminal is still there never ran, and once the terminal closed it
spun on reads at end-of-file (15-67% of a core) for ever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from phasegate.tui.dashboard.app import Terminal

from .conftest import PHASEGATE, Run, show_last, until


def test_a_hung_up_terminal_is_gone_even_with_no_controlling_terminal() -> None:
    master, slave = os.openpty()
    try:
        terminal = Terminal(controlling=False, streams=(slave,))
        assert terminal.watched() and not terminal.gone()
        os.close(master)  # the terminal's other end closes (a tmux pane, an SSH session)
        master = -1
        assert terminal.gone()
    finally:
        if master >= 0:
            os.close(master)
        os.close(slave)


def test_a_closed_stream_is_gone_and_no_terminal_at_all_is_not_watched() -> None:
    master, slave = os.openpty()
    os.close(master)
    os.close(slave)
    assert Terminal(controlling=False, streams=(slave,)).gone()
    assert not Terminal(controlling=False, streams=()).watched()


def _dashboards(run_id: str) -> list[psutil.Process]:
    """This test's `phasegate attach RUN` processes (their setsid parent included)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = p.info["cmdline"] or []
        if "attach" in line and run_id in line:
            found.append(p)
    return found


@pytest.fixture
def session() -> Iterator[str]:
    name = f"pg-gone-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.skipif(shutil.which("setsid") is None, reason="setsid (util-linux) is not installed")
@pytest.mark.slow
def test_a_dashboard_without_a_controlling_terminal_leaves_when_its_terminal_closes(
    pg: Run, tmp_path: Path, cli_env: dict[str, str], session: str
) -> None:
    (tmp_path / "long.yaml").write_text(
        "name: long\nagents: {a: {}}\nphases:\n  - {id: p, tasks: [{id: t, run: 'sleep 120'}]}\n"
    )
    started = pg("run", "long.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[-1]
    try:
        # setsid: a new session, as `su USER -c` makes: no controlling terminal, only the
        # pane's terminal on stdin, stdout and stderr
        command = (
            f"cd '{tmp_path}' && env PHASEGATE_DB='{cli_env['PHASEGATE_DB']}' NO_COLOR=1 "
            f"TERM=xterm-256color setsid -w {PHASEGATE} attach {run_id}"
        )
        tmux = ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command]
        subprocess.run(tmux, check=True)

        def shown() -> bool:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            return run_id in screen and "running" in screen

        until("the dashboard", shown)
        assert _dashboards(run_id), "no dashboard process found"
        subprocess.run(["tmux", "kill-session", "-t", session], check=True)
        until("the dashboard to leave with its terminal", lambda: not _dashboards(run_id), 10)
        assert show_last(pg)["status"] == "running"  # (leaving is no stop)
    finally:
        for p in _dashboards(run_id):  # (the old code's dashboard spun here for ever)
            p.kill()
        pg("cancel", run_id)
