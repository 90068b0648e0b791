"""The `phasegate` command's way out (`entry`): it ends the process without tearing the
interpreter down, so what that teardown did for a user must be done before: the exit code,
stdout and stderr flushed to a pipe, the atexit handlers run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _entry(args: list[str], before: str = "") -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"{before}"
        "from phasegate.tui.cli.main import entry\n"
        f"sys.argv = ['phasegate', *{args!r}]\n"
        "entry()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # (as most users run)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_a_long_output_reaches_a_pipe_whole(tmp_path: Path) -> None:
    plan = tmp_path / "many.yaml"
    tasks = ", ".join(f'{{id: t{i}, run: "true"}}' for i in range(300))
    plan.write_text(f"name: many\nagents: {{w: {{}}}}\nphases: [{{id: p, tasks: [{tasks}]}}]\n")
    # (stdout is a pipe: block-buffered; a print's text waits in the buffer until the end)
    done = _entry(["plan", str(plan)], before="print('first', end='')\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("first")
    assert "t299" in done.stdout
    assert done.stdout.endswith("\n")


def test_the_exit_code_and_the_atexit_handlers_survive(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphases: 3\n")
    said = "import atexit\natexit.register(lambda: print('handler ran'))\n"
    done = _entry(["validate", str(bad)], before=said)
    assert done.returncode == 2
    assert "phases" in done.stderr
    assert done.stdout.strip().endswith("handler ran")
    # click's usage error, and sys.exit with a text (printed, exit 1, as the interpreter does)
    assert _entry(["no-such-command"]).returncode == 2
    why = "import phasegate.tui.cli.main as m\nm.main = lambda: sys.exit('why')\n"
    text = _entry([], before=why)
    assert (text.returncode, text.stderr.strip()) == (1, "why")


def test_a_profiler_gets_its_figures(tmp_path: Path) -> None:
    """`python -m cProfile -o FILE $(which phasegate) ...` (bench/README.md): the profiler writes
    after the command returns, so under a profiler the command ends as any script does."""
    script = tmp_path / "phasegate_script.py"
    script.write_text("import sys\nfrom phasegate.tui.cli.main import entry\nentry()\n")
    out = tmp_path / "run.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), str(script), "--version"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "phasegate" in done.stdout
    assert out.stat().st_size > 0


def test_a_closed_stdout_or_stderr_is_no_failure(tmp_path: Path) -> None:
    """Started with a descriptor closed (`2>&-`, a cron job), Python has no sys.stderr: the
    command still ends as it would have (the version printed, exit 0)."""
    script = tmp_path / "pg.py"
    script.write_text("import sys\nfrom phasegate.tui.cli.main import entry\nentry()\n")
    for closed in ("2>&-", ">&-"):
        line = f"{sys.executable} {script} --version {closed}; echo rc=$?"
        done = subprocess.run(["sh", "-c", line], capture_output=True, text=True)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stdout.strip().endswith("rc=0"), (closed, done.stdout, done.stderr)
