"""A fallback waits for its task to fail, and whoever needs that task waits for the fallback:
fallbacks that close a cycle of waits (two tasks each the other's fallback, or a fallback that
needs a dependent of its task) would hang the run forever. The plan check refuses them, placed
at the `on_failure` line, naming the cycle and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model.errors import PlanError
from phasegate.engine.plan import load_plan, validate_file

MUTUAL = """\
name: fbc
agents: {a: {slots: 2}}
phases:
  - id: p1
    tasks:
      - {id: a1, run: "exit 1", agent: a, on_failure: {fallback: b1}}
      - {id: b1, run: "exit 1", agent: a, on_failure: {fallback: a1}}
      - {id: after, run: "true", agent: a, needs: [a1]}
"""

INDIRECT = """\
name: fbc3
agents: {a: {slots: 2}}
phases:
  - id: p1
    tasks:
      - {id: t, run: "exit 1", agent: a, on_failure: {fallback: fb}}
      - {id: x, run: "true", agent: a, needs: [t]}
      - {id: y, run: "true", agent: a, needs: [x]}
      - {id: fb, run: "echo fallback", agent: a, needs: [y]}
      - {id: after, run: "true", agent: a, needs: [t]}
"""

CHAIN = """\
name: chain
agents: {a: {slots: 2}}
phases:
  - id: p1
    tasks:
      - {id: t, run: "exit 1", agent: a, on_failure: {fallback: fb}}
      - {id: fb, run: "exit 1", agent: a, needs: [before], on_failure: {fallback: fb2}}
      - {id: fb2, run: "true", agent: a}
      - {id: before, run: "true", agent: a}
      - {id: after, run: "true", agent: a, needs: [t]}
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


def test_two_tasks_each_the_others_fallback_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, MUTUAL)
    (problem,) = [p for p in validate_file(path) if not p.warning]
    assert problem.line == 6 and problem.key.endswith("on_failure.fallback")
    assert "fallback cycle: " in problem.message
    assert "'a1' runs only if 'b1' fails" in problem.message
    assert "'b1' runs only if 'a1' fails" in problem.message
    assert "drop a need or name another fallback" in problem.message
    with pytest.raises(PlanError):  # `run` and `plan` load it the same way: nothing runs
        load_plan(path)


def test_a_fallback_that_needs_a_dependent_of_its_task_is_refused(tmp_path: Path) -> None:
    (problem,) = [p for p in validate_file(_write(tmp_path, INDIRECT)) if not p.warning]
    assert problem.line == 6  # the `on_failure` of 't'
    assert "x -> fb -> y -> x" in problem.message.replace("'", "")
    assert "'x' needs 't', so waits for its fallback 'fb' if it fails" in problem.message


def test_fallbacks_without_a_cycle_still_pass(tmp_path: Path) -> None:
    assert [p for p in validate_file(_write(tmp_path, CHAIN)) if not p.warning] == []


def test_a_cycle_of_needs_alone_is_reported_once_as_a_dependency_cycle(tmp_path: Path) -> None:
    text = CHAIN.replace(
        '{id: before, run: "true", agent: a}', "{id: before, run: 'true', agent: a, needs: [after]}"
    ).replace("needs: [t]}", "needs: [before]}")
    messages = [p.message for p in validate_file(_write(tmp_path, text)) if not p.warning]
    assert len(messages) == 1 and messages[0].startswith("dependency cycle")
