"""Agent addresses `phasegate validate` checks, so that what it passes a run can connect to:
an SSH host's (and jump host's) port is 1..65535, a Dask scheduler's address is
[scheme://]host:port, and no coding agent (spoken to on its input) is put on a Dask cluster.
The problems themselves: tests/plans/invalid/agent_addresses.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.plan import validate_file

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"


def _plan(tmp_path: Path, agent: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"name: p\nagents:\n  r1: {agent}\nphases:\n"
        "  - id: one\n    tasks: [{id: a, run: 'true', agent: r1}]\n"
    )
    return path


@pytest.mark.parametrize(
    "agent",
    [
        '{host: "ci@127.0.0.1:65535"}',
        '{host: "build", ssh: {jump: "gw.example:1"}}',
        '{host: "[::1]:22"}',
        '{executor: {dask: "tcp://127.0.0.1:8786"}}',
        '{executor: {dask: "tls://scheduler.example:8786"}}',
        '{executor: {dask: "tcp://[::1]:8786"}}',
        '{executor: {dask: "scheduler:8786"}}',
        '{kind: command, executor: {dask: "ws://sched.example:8787"}}',
    ],
)
def test_addresses_a_run_can_connect_to_still_pass(tmp_path: Path, agent: str) -> None:
    assert validate_file(str(_plan(tmp_path, agent))) == []


@pytest.mark.parametrize(
    ("agent", "said"),
    [
        (
            '{host: "ci@127.0.0.1:99999", ssh: {known_hosts: /tmp/kh}}',
            "plan.yaml:3: agents.r1: host 'ci@127.0.0.1:99999': port 99999 is out of range",
        ),
        ('{host: "ci@127.0.0.1:0"}', "plan.yaml:3: agents.r1: host 'ci@127.0.0.1:0': port 0"),
        ('{executor: {dask: ""}}', "plan.yaml:3: agents.r1.executor: dask '' is not a sched"),
        (
            '{executor: {dask: "tcp://127.0.0.1:notaport"}}',
            "agents.r1.executor: dask 'tcp://127.0.0.1:notaport' is not a scheduler's address",
        ),
        (
            '{kind: claude, executor: {dask: "tcp://127.0.0.1:8786"}}',
            "plan.yaml:3: agents.r1: a `kind: claude` agent is spoken to on its input",
        ),
    ],
)
def test_validate_refuses_an_address_a_run_cannot_use(
    tmp_path: Path, agent: str, said: str
) -> None:
    done = subprocess.run(
        [PHASEGATE, "validate", str(_plan(tmp_path, agent))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
