"""A valid plan that will not do what its author likely meant is warned of (validate says
`ok (N warnings)`, exit 0): it printed `ok` for a task estimated past its timeout or alone past
its phase's timebox, a phase of no tasks, `output_cap: 0` (no output
kept at all) and a command agent given a coding agent's `model`."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.plan import load_plan, validate_file

from .helpers import write_plan

PLAN = """
name: suspicious
output_cap: 0
agents: {a: {model: opus}}
phases:
  - id: p1
    timebox: 5s
    tasks:
      - {id: long, run: "true", agent: a, estimate: 2h}
      - {id: cut, run: "true", agent: a, estimate: 3s, timeout: 1s}
  - id: p2
    tasks: []
gates:
  - {id: g, after: p1, approval: auto}
"""


def test_a_plan_that_will_not_do_what_it_says_is_warned_of(tmp_path: Path) -> None:
    found = validate_file(str(write_plan(tmp_path, PLAN)))
    assert found and all(p.warning for p in found), found
    said = {p.key: p.message for p in found}
    assert "past the timebox of its phase 'p1' (5.0s)" in said["phases[0].tasks[0].estimate"]
    assert "longer than its timeout of 1.0s" in said["phases[0].tasks[1].timeout"]
    assert said["phases[1].tasks"] == "phase 'p2' has no tasks"
    assert "keeps no output" in said["output_cap"]
    assert "a command agent ignores it" in said["agents.a.model"]
    assert load_plan(str(write_plan(tmp_path, PLAN))).warnings  # (a run says them too)


def test_a_plan_as_meant_gets_none(tmp_path: Path) -> None:
    plan = """
    name: fine
    agents: {a: {}}
    phases:
      - id: p1
        timebox: 1h
        tasks: [{id: t, run: "true", agent: a, estimate: 3s, timeout: 1m}]
    gates:
      - {id: g, after: p1, approval: auto, criteria: [{run: "true"}]}
    """
    assert validate_file(str(write_plan(tmp_path, plan))) == []
