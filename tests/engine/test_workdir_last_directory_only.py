"""The engine makes at most the last directory of a plan's workdir: a typo in `workdir:`
(a run started past `phasegate run`'s check, or resumed after the tree went) must not build
a tree of directories; the task fails on the missing workdir, with the reason."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model.statuses import TaskStatus

from .helpers import run_plan


async def test_a_workdir_whose_parent_is_missing_is_not_made(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: typo
        workdir: no-such-dir/deeper/work
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: pwd}]}]
        """,
    )
    assert not (tmp_path / "no-such-dir").exists()
    t = state.tasks["t"]
    assert t.status is TaskStatus.FAILED and "workdir" in t.reason


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
