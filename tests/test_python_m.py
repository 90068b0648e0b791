"""`python -m phasegate` is the `phasegate` command (a venv whose scripts are not on PATH)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_python_m_phasegate_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phasegate", "validate", "plans/demo.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "plans/demo.yaml: ok"
    bad = subprocess.run(
        [sys.executable, "-m", "phasegate", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "Usage: phasegate" in bad.stderr
