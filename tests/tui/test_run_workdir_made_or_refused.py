"""`workdir:` at the start of `phasegate run`: outside the plan file's directory a run makes at
most its last directory (in one that exists); a workdir there whose parent is missing, or one
that is a file, is refused with exit 2 before anything is made (no directory tree from a typo,
no database, no run). Inside the plan's own directory it is made with its parents."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

PLAN = """
name: wd
workdir: WORKDIR
agents: {a: {}}
phases:
  - id: p
    tasks:
      - {id: t, run: pwd}
"""


def _plan(tmp_path: Path, workdir: Path) -> None:
    (tmp_path / "wd.yaml").write_text(PLAN.replace("WORKDIR", str(workdir)))


@pytest.mark.parametrize("how", [["--headless"], ["--detach"]])
def test_a_workdir_whose_parent_is_missing_is_refused_and_nothing_made(
    pg: Run, tmp_path: Path, cli_env: dict[str, str], how: list[str]
) -> None:
    typo = tmp_path / "no-such-dir" / "deeper" / "work"
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "wd.yaml").write_text(PLAN.replace("WORKDIR", str(typo)))
    done = pg("run", "proj/wd.yaml", *how)
    assert done.returncode == 2, done.stderr
    assert f"{typo.parent} does not exist" in done.stderr
    assert "nothing was run" in done.stderr
    assert not (tmp_path / "no-such-dir").exists()
    assert not Path(cli_env["PHASEGATE_DB"]).parent.exists()  # (no database, no run directory)


def test_a_workdir_that_is_a_file_is_refused_before_anything_is_made(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("not a directory\n")
    _plan(tmp_path, afile)
    done = pg("run", "wd.yaml", "--headless")
    assert done.returncode == 2, done.stderr
    assert f"{afile} is not a directory" in done.stderr
    assert afile.read_text() == "not a directory\n"
    assert not Path(cli_env["PHASEGATE_DB"]).parent.exists()


def test_a_missing_last_directory_is_made_and_the_task_runs_there(pg: Run, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _plan(tmp_path, work)
    done = pg("run", "wd.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    assert work.is_dir()
    logs = pg("logs", "last", "t")
    assert str(work.resolve()) in logs.stdout


def test_a_workdir_in_the_plans_own_directory_is_made_with_its_parents(
    pg: Run, tmp_path: Path
) -> None:
    (tmp_path / "wd.yaml").write_text(PLAN.replace("WORKDIR", ".work/main"))
    done = pg("run", "wd.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".work" / "main").is_dir()
