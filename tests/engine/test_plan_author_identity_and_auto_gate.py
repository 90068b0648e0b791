"""Two mistakes `validate` now names: an SSH agent's key file (`ssh.identity`) that does not
exist (a warning for `validate`, which may be asked on another machine; a run refuses it before
it starts, where it failed each of the agent's tasks at its connection), and an automatic gate
with no criteria (it passes as soon as its phase ends, checking nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from phasegate.engine.plan import validate_file

from .helpers import write_plan

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

SSH = """
name: p
agents:
  far:
    host: ci@build.invalid
    ssh:
      identity: {identity}
phases:
  - id: one
    tasks: [{{id: a, run: "true", agent: far}}]
"""

GATE = """
name: p
agents: {{w: {{}}}}
phases:
  - id: one
    tasks: [{{id: a, run: "true"}}]
gates:
  - id: review
    after: one
    approval: auto{criteria}
"""


def test_a_missing_key_file_is_a_warning_for_validate_and_refused_by_a_run(
    tmp_path: Path,
) -> None:
    path = write_plan(tmp_path, SSH.format(identity=tmp_path / "id_typo"))
    [found] = validate_file(str(path))
    assert found.warning and (found.line, found.key) == (7, "agents.far.ssh.identity")
    assert f"no key file {tmp_path / 'id_typo'}" in found.message
    assert "leave `identity` out" in found.message
    env = dict(os.environ, PHASEGATE_DB=str(tmp_path / "x.db"), NO_COLOR="1")
    run = subprocess.run(
        [PHASEGATE, "run", str(path), "--headless"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}:7: agents.far.ssh.identity: no key file" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_key_file_given_as_home_relative_or_a_directory(tmp_path: Path) -> None:
    key = tmp_path / "id_build"
    key.write_text("not read by validate\n")
    assert validate_file(str(write_plan(tmp_path, SSH.format(identity=key)))) == []
    [found] = validate_file(str(write_plan(tmp_path, SSH.format(identity=tmp_path))))
    assert found.warning and "is a directory; give the path of a private key file" in found.message
    home = "~/phasegate-no-such-key"
    [found] = validate_file(str(write_plan(tmp_path, SSH.format(identity=home))))
    assert f"no key file {home} ({os.path.expanduser(home)})" in found.message


def test_an_automatic_gate_with_no_criteria_is_warned_of(tmp_path: Path) -> None:
    [found] = validate_file(str(write_plan(tmp_path, GATE.format(criteria=""))))
    assert found.warning and (found.line, found.key) == (10, "gates[0].approval")
    assert "gate 'review' is `approval: auto` with no `criteria`" in found.message
    assert "passes as soon as phase 'one' ends, checking nothing" in found.message
    checked = GATE.format(criteria='\n    criteria: [{run: "true"}]')
    assert validate_file(str(write_plan(tmp_path, checked))) == []
