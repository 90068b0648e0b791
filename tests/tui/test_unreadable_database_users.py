"""Hunt A, bug 4, as real OS users: a user outside the group a database is shared with is told
that she cannot read it and why (the directory is shared with a group she is not in), exit 2,
not "cannot create the database"; and nothing is made. Users are made as in test_shared_runs."""

from __future__ import annotations

import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_shared_runs import (  # noqa: F401 (the fixtures)
    GROUP,
    STARTER,
    Pg,
    _start,
    pytestmark,
    shared,
    team,
)

OUTSIDER = "pgoutsider"  # in no group of the team


@pytest.fixture
def outsider(team: None) -> Iterator[str]:  # noqa: F811 (the fixture)
    try:
        pwd.getpwnam(OUTSIDER)
        made = False
    except KeyError:
        subprocess.run(["useradd", "-M", "-N", OUTSIDER], check=True)
        made = True
    yield OUTSIDER
    if made:
        subprocess.run(["userdel", OUTSIDER], check=False)


PLAN = f"""
name: shared-tiny
share: {GROUP}
agents: {{a: {{}}}}
phases:
  - id: build
    tasks: [{{id: make, run: "echo built"}}]
gates:
  - {{id: review, after: build}}
"""


@pytest.mark.slow
def test_bug4_an_outsider_is_told_she_cannot_read_and_why(
    shared: tuple[Path, Pg],  # noqa: F811 (the fixture)
    outsider: str,
) -> None:
    place, pg = shared
    _start(place, pg, PLAN)
    for args in (["runs"], ["show", "last"], ["gates"]):
        done = pg(outsider, *args)
        assert done.returncode == 2, done.stderr
        assert "cannot read the database" in done.stderr and "cannot create" not in done.stderr
        assert f"shared with group {GROUP}, which you are not in" in done.stderr
        assert f"owned by {STARTER}" in done.stderr
    typo = place / "typo" / "x.db"
    done = pg(outsider, "show", "last", "--db", str(typo))
    assert done.returncode == 2 and f"no database at {typo}" in done.stderr
    assert not typo.parent.exists()
    pg(STARTER, "cancel", "last")
