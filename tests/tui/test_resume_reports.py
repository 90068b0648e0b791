"""A run whose engine died as it wrote its end-of-run reports (its end already recorded) had no
reports and no lessons in the history for good: `resume` said "nothing to resume". It writes
them now."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run, show_last

PLAN = """
name: reported
agents: {w: {}}
phases:
  - id: p
    tasks: [{id: t, run: "true"}]
"""


def test_resume_of_a_finished_run_without_reports_writes_them(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    run_id = str(show_last(pg)["id"])
    directory = tmp_path / "data" / "runs" / run_id
    for name in ("report.md", "report.json"):  # (as a kill -9 in the middle of them leaves it)
        (directory / name).unlink()
    done = pg("resume", run_id)
    assert done.returncode == 0, done.stderr
    assert "nothing to resume; its reports were never written" in done.stdout
    assert (directory / "report.md").read_text().startswith("#")
    assert (directory / "report.json").exists()
    again = pg("resume", run_id)  # (written once: nothing more to do)
    assert again.stdout.strip() == f"run {run_id} has finished (succeeded): nothing to resume"
