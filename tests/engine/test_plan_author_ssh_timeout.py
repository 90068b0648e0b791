"""An SSH agent's `ssh.connect_timeout` of 0 is a plan problem placed on its key's line (it
passed `validate`: a run then gave up connecting at once and never tried to reconnect); a
negative one was and is refused as no duration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

from .helpers import write_plan

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

PLAN = """
name: p
agents:
  far:
    host: ci@build.example
    ssh:
      known_hosts: /tmp/kh
      connect_timeout: {timeout}
phases:
  - id: one
    tasks: [{{id: a, run: "true", agent: far}}]
"""


@pytest.mark.parametrize("timeout", ["0", "0s", "0.0"])
def test_validate_refuses_a_connect_timeout_of_zero(tmp_path: Path, timeout: str) -> None:
    path = write_plan(tmp_path, PLAN.format(timeout=timeout))
    done = subprocess.run(
        [PHASEGATE, "validate", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert f"{path}:8: agents.far.ssh.connect_timeout: must be more than 0" in said
    assert "a run needs time to connect" in said


@pytest.mark.parametrize(("timeout", "said"), [("-5", "it must be zero or more")])
def test_a_negative_connect_timeout_is_still_refused(
    tmp_path: Path, timeout: str, said: str
) -> None:
    found = validate_file(str(write_plan(tmp_path, PLAN.format(timeout=timeout))))
    assert [(p.line, p.key) for p in found] == [(8, "agents.far.ssh.connect_timeout")]
    assert said in found[0].message


@pytest.mark.parametrize("timeout", ["15s", "0.5", "2m"])
def test_a_positive_connect_timeout_passes(tmp_path: Path, timeout: str) -> None:
    assert validate_file(str(write_plan(tmp_path, PLAN.format(timeout=timeout)))) == []
