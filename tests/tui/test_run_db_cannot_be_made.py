"""`phasegate run --db PATH` where no database can be made (under /proc, under a file): bad usage,
exit 2, in one line naming the path and who chose it, before anything starts; exit 1 says the run
failed.

Regression: `cannot create the database /proc/x.db: ...` exited 1 (as a failed run); a path under
a file was a traceback (NotADirectoryError) and exit 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Run

PLAN = "name: p\nagents: {w: {}}\nphases:\n  - {id: one, tasks: [{id: t, run: 'echo hi'}]}\n"


@pytest.mark.parametrize("mode", [["--headless"], ["--headless", "-q"], ["--detach"]])
@pytest.mark.parametrize("where", ["/proc/phasegate-test/x.db", "{tmp}/plan.yaml/x.db"])
def test_a_database_that_cannot_be_made_is_bad_usage(
    pg: Run, tmp_path: Path, mode: list[str], where: str
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    db = where.format(tmp=tmp_path)
    done = pg("run", "plan.yaml", *mode, "--db", db)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"phasegate: cannot create the database {db} (from --db): ")
    assert done.stderr.count("\n") == 1 and "--db or PHASEGATE_DB" in done.stderr
    assert done.stdout == ""
    assert os.listdir(tmp_path) == ["plan.yaml"]  # nothing was made


def test_a_database_in_a_new_directory_is_made(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    done = pg("run", "plan.yaml", "--headless", "-q", "--db", str(tmp_path / "a" / "b" / "x.db"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a" / "b" / "x.db").is_file()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".phasegate-")]
