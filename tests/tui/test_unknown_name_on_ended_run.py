"""Regression: `phasegate approve RUN nogate` (and `skip RUN x`) on a run that had ended exited
1 ("run ... is succeeded and has no live engine"), while `--help` and a live run say 2: an
unknown gate or task is bad usage whatever the run's state, checked against the run's record
before its engine is looked for."""

from __future__ import annotations

from .conftest import Run


def test_unknown_gate_and_task_of_an_ended_run_are_usage_errors(
    pg: Run, finished_run: tuple[str, str]
) -> None:
    db, run_id = finished_run
    approved = pg("approve", run_id, "nogate", "--db", db)
    assert approved.returncode == 2, approved.stderr
    assert f"run {run_id} has no gate 'nogate'" in approved.stderr
    skipped = pg("skip", run_id, "x", "--reason", "r", "--db", db)
    assert skipped.returncode == 2, skipped.stderr
    assert f"run {run_id} has no task 'x'; its tasks: compile, docs, flaky, unit" in (
        skipped.stderr
    )
    for args in (("retry", run_id, "nope"), ("cancel", run_id, "--task", "nope")):
        done = pg(*args, "--db", db)
        assert done.returncode == 2 and "has no task 'nope'" in done.stderr, done.stderr


def test_a_known_task_of_an_ended_run_is_still_refused_with_exit_1(
    pg: Run, finished_run: tuple[str, str]
) -> None:
    db, run_id = finished_run
    done = pg("skip", run_id, "unit", "--reason", "r", "--db", db)
    assert done.returncode == 1, done.stderr
    assert "has no live engine" in done.stderr
