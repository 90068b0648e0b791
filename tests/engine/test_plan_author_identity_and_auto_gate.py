"""Two mistakes `validate` now names: an SSH agent's key file (`ssh.identity`) that does not
exist (a warning, read from the plan's workdir as the engine reads it: a run goes on, its agent
may have no task), and an automatic gate with no criteria (it passes as soon as its phase
ends, checking nothing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

from .helpers import write_plan

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


def test_a_missing_key_file_is_a_warning_read_from_the_plan_s_workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_plan(tmp_path, SSH.format(identity=tmp_path / "id_typo"))
    [found] = validate_file(str(path))
    assert found.warning and (found.line, found.key) == (7, "agents.far.ssh.identity")
    assert f"no key file {tmp_path / 'id_typo'}" in found.message
    assert "leave `identity` out" in found.message
    # a relative path is from the plan's workdir, where the engine runs (not the caller's)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_build").write_text("not read by validate\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert validate_file(str(write_plan(tmp_path, SSH.format(identity="keys/id_build")))) == []
    [found] = validate_file(str(write_plan(tmp_path, SSH.format(identity="keys/id_typo"))))
    assert f"no key file keys/id_typo ({tmp_path / 'keys' / 'id_typo'})" in found.message
    assert "a relative one is from the plan's workdir" in found.message


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
