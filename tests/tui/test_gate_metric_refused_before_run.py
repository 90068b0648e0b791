"""A gate `metric:` whose bound is no number is refused by `run` (exit 2, nothing run, no
traceback), as `validate` refuses it: before, the run crashed at the gate, left `interrupted`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import Run

PLAN = """name: m
agents: {w: {}}
phases:
  - id: p
    tasks: [{id: t1, run: "true"}]
gates:
  - id: g
    after: p
    approval: auto
    criteria: [{metric: {run: "echo 5", min: "high"}}]
"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_metric_bound_that_is_no_number_is_refused_before_anything_runs(
    pg: Run, tmp_path: Path, command: str
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    extra = ["--headless"] if command == "run" else []
    done = pg(command, "plan.yaml", *extra)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gates[0].criteria[0].metric.min: must be a number, got text 'high'" in done.stdout + (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    assert pg("runs").stdout.count("interrupted") == 0
