"""`run --help` says what -q prints (what waits for a person too, as the README says); a bad
database path names who chose it (PHASEGATE_DB or --db); a file that is no database is said
to be one, once."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Run


def test_run_help_says_quiet_prints_what_waits_for_a_person(pg: Run) -> None:
    done = pg("run", "--help")
    assert done.returncode == 0, done.stderr
    said = re.sub(r"\s+", " ", done.stdout)
    quiet = said[said.index("-q, --quiet") :]
    assert "waits for a person" in quiet[:200] and "summary" in quiet[:200]


def test_a_directory_from_phasegate_db_names_phasegate_db(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    cli_env["PHASEGATE_DB"] = str(tmp_path)
    done = pg("runs")
    assert done.returncode == 2
    assert "Invalid value for PHASEGATE_DB" in done.stderr and "'--db'" not in done.stderr
    done = pg("runs", "--db", str(tmp_path))  # (the option wins, and is named)
    assert done.returncode == 2
    assert "Invalid value for '--db'" in done.stderr


def test_a_file_that_is_no_database_is_said_once(pg: Run, tmp_path: Path) -> None:
    noise = tmp_path / "noise.db"
    noise.write_bytes(bytes(range(256)) * 20)
    for args in (["runs"], ["run", "p.yaml", "--headless"]):
        (tmp_path / "p.yaml").write_text(
            "name: p\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
        )
        done = pg(*args, "--db", str(noise))
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("not a database") == 1, done.stderr
        assert "not a phasegate database" not in done.stderr
