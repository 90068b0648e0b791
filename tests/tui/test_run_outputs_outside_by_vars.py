"""`run` refuses (exit 2, nothing run, no database) a plan whose variable moves a task's output
out of the workdir (`outputs: ["{name}.dat"]` with `--var name=../../x`): the plan's check
sees only the text as written. Headless and detached alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import Run

PLAN = """name: outs
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: va, run: "echo x > {name}.dat", outputs: ["{name}.dat"]}
"""


@pytest.mark.parametrize("how", ["--headless", "--detach"])
def test_an_output_a_variable_moves_out_of_the_workdir_is_refused(
    pg: Run, tmp_path: Path, how: str
) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "plan.yaml").write_text(PLAN)
    done = pg("run", str(work / "plan.yaml"), how, "--var", "name=../escaped")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "task 'va': its output '{name}.dat' is '../escaped.dat', outside the workdir" in (
        done.stderr
    )
    assert not (tmp_path / "escaped.dat").exists()
    assert not (tmp_path / "data" / "phasegate.db").exists()  # (nothing was made)
    fine = pg("run", str(work / "plan.yaml"), "--headless", "--var", "name=inside")
    assert fine.returncode == 0 and (work / "inside.dat").exists(), fine.stderr
