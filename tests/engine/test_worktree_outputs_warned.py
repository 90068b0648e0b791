"""A task in a git worktree whose `outputs:` a task that needs it would look for is warned of:
they stay on its branch (each worktree starts from the run's start commit), and the dependent
failed at run time with `No such file`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from phasegate.engine.plan import load_plan

PLAN = """
name: wt
agents:
  coder: {worktree: true}
  plain: {}
phases:
  - id: p
    tasks:
      - {id: gen, agent: coder, run: "echo app > app.tar", outputs: [app.tar]}
      - {id: smoke, agent: plain, run: "cat app.tar", needs: [gen]}
      - {id: alone, agent: coder, run: "echo x > x.txt", outputs: [x.txt]}
"""


def test_outputs_a_dependent_cannot_see_are_warned(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", "s"],
        cwd=tmp_path,
        check=True,
    )  # fmt: skip
    (tmp_path / "wt.yaml").write_text(PLAN)
    plan = load_plan(str(tmp_path / "wt.yaml"), to_run=False)
    said = [(w.key, w.message) for w in plan.warnings]
    assert len(said) == 1, said  # (not `alone`: nothing needs it)
    key, message = said[0]
    assert key == "phases[0].tasks[0].outputs"
    assert "task 'gen' works in a git worktree" in message and "smoke (needing it)" in message
