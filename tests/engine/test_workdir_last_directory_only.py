"""Outside the plan file's directory the engine makes at most the last directory of a plan's
workdir (inside it, with its parents): a typo in `workdir:`
(a run started past `phasegate run`'s check, or resumed after the tree went) must not build
a tree of directories; the task fails on the missing workdir, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.plan.repo import make_workdir

from .helpers import run_plan


def test_a_workdir_whose_parent_is_missing_is_not_made(tmp_path: Path) -> None:
    # (the plan's check refuses it at `run`; a resume after the tree went meets this)
    plan_dir = tmp_path / "proj"
    plan_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(FileNotFoundError):
        make_workdir(str(elsewhere / "deeper" / "work"), str(plan_dir))
    assert not elsewhere.exists()
    make_workdir(str(plan_dir / ".work" / "main"), str(plan_dir))  # (its own: with parents)
    assert (plan_dir / ".work" / "main").is_dir()
    make_workdir(str(tmp_path / "next-door"), str(plan_dir))  # (its last directory: made)
    assert (tmp_path / "next-door").is_dir()


async def test_a_missing_last_directory_is_made(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: fresh
        workdir: work
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: pwd}]}]
        """,
    )
    assert (tmp_path / "work").is_dir()
    assert state.tasks["t"].status is TaskStatus.SUCCEEDED
