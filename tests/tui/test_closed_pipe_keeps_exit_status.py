"""A reader that goes away (`phasegate validate bad.yaml 2>&1 | head -1`) does not change the
command's exit status: an invalid plan is still 2 (a CI step with `pipefail` must not pass a
broken plan), a usage error or an unknown run 2; a command that succeeds is still 0."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import PHASEGATE

BAD = """
name: bad
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: t, run: "echo {nope}"}
"""

GOOD = """
name: good
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: t, run: "true"}
"""


def _closed_pipe(tmp_path: Path, env: dict[str, str], *args: str) -> int:
    """`phasegate ARGS 2>&1 | head -0`: the reader is gone before the first line, so every
    write fails with EPIPE (no race with a reader that is still there)."""
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "good.yaml").write_text(GOOD)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [PHASEGATE, *args], cwd=tmp_path, env=env, stdout=write, stderr=write, timeout=60
        )
    finally:
        os.close(write)
    return done.returncode


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("validate", "bad.yaml"), 2),
        (("validate", "--json", "bad.yaml"), 2),
        (("validate", "good.yaml", "bad.yaml"), 2),
        (("plan", "bad.yaml"), 2),
        (("run", "bad.yaml", "--headless"), 2),
        (("show", "no-such-run"), 2),  # (the database is made by the run below)
        (("show", "--no-such-option"), 2),
        (("no-such-command",), 2),
        (("validate", "good.yaml"), 0),
        (("plan", "good.yaml"), 0),
    ],
)
def test_a_closed_pipe_keeps_the_exit_status(
    tmp_path: Path, cli_env: dict[str, str], args: tuple[str, ...], code: int
) -> None:
    if args[0] == "show":  # (a database with a run in it: the run is unknown, not the database)
        (tmp_path / "good.yaml").write_text(GOOD)
        made = subprocess.run(
            [PHASEGATE, "run", "good.yaml", "--headless"],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
    assert _closed_pipe(tmp_path, cli_env, *args) == code
