""" "Did you mean" where an author's slip is only the case of a name (`needs: [T1]` for `t1`) or
a value of a fixed set (`kind: claud`): validate named neither, though it does for keys."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.plan import validate_file

from .helpers import write_plan

PLAN = """
name: slips
agents: {a: {kind: claud}, b: {}}
phases:
  - id: p
    tasks:
      - {id: build, run: "true", agent: b}
      - {id: test, run: "true", agent: b, needs: [Build]}
"""


def test_a_slip_of_case_or_of_a_value_gets_a_suggestion(tmp_path: Path) -> None:
    said = [p.message for p in validate_file(str(write_plan(tmp_path, PLAN)))]
    kind = next(m for m in said if "'claud'" in m)
    assert "(did you mean 'claude'?)" in kind, said
    need = next(m for m in said if "'Build'" in m)
    assert "(did you mean 'build'?)" in need, said


def test_no_suggestion_when_nothing_is_close(tmp_path: Path) -> None:
    plan = PLAN.replace("kind: claud", "kind: zzz").replace("[Build]", "[qqq]")
    said = [p.message for p in validate_file(str(write_plan(tmp_path, plan)))]
    assert said and not any("did you mean" in m for m in said), said
