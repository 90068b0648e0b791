"""`outputs:` are hand-offs under the workdir. The plan check reads the text as written
(`{name}.dat` looks fine); the path a task would write, its variables filled in, is checked
too: a `--var` or a plan default that climbs out of the workdir is refused, nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model.errors import UsageError
from phasegate.engine.plan import load_plan
from phasegate.engine.run.endings import refuse_outside_outputs

PLAN = """\
name: outs
vars: {name: "my file", sub: "out"}
agents: {a: {slots: 1}}
phases:
  - id: p1
    tasks:
      - {id: va, run: "echo x > {name}.dat", agent: a, outputs: ["{name}.dat"]}
      - {id: inside, run: "true", agent: a, outputs: ["{workdir}/{sub}/r.txt", "{sub}/../k"]}
"""


def _values(tmp_path: Path, **given: str) -> dict[str, str]:
    return {"name": "my file", "sub": "out", "workdir": str(tmp_path), **given}


def test_a_variable_that_leaves_the_workdir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    plan = load_plan(str(tmp_path / "plan.yaml"))  # the text as written passes
    with pytest.raises(UsageError) as refused:
        refuse_outside_outputs(plan, _values(tmp_path, name="../../../etc/hostname"), str(tmp_path))
    message = str(refused.value)
    assert (
        "task 'va': its output '{name}.dat' is '../../../etc/hostname.dat', outside the workdir"
        in message
    )
    assert "absolute_outputs: true" in message and message.endswith("nothing was run")
    assert refused.value.exit_code == 2
    for bad in ("/etc/hostname", "~/x", "a/../../b"):
        with pytest.raises(UsageError):
            refuse_outside_outputs(plan, _values(tmp_path, name=bad), str(tmp_path))


def test_paths_under_the_workdir_and_the_plans_opt_in_pass(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    plan = load_plan(str(tmp_path / "plan.yaml"))
    refuse_outside_outputs(plan, _values(tmp_path), str(tmp_path))  # the defaults: fine
    refuse_outside_outputs(plan, _values(tmp_path, name="d/..x"), str(tmp_path))
    (tmp_path / "plan.yaml").write_text("absolute_outputs: true\n" + PLAN)
    allowed = load_plan(str(tmp_path / "plan.yaml"))
    refuse_outside_outputs(allowed, _values(tmp_path, name="/tmp/x"), str(tmp_path))
