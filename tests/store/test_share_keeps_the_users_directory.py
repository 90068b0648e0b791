"""Regression: `run --share daemon --db /tmp/d/x.db`, /tmp/d being the user's own directory
(755, holding other files), left it `drwxr-s--- root:daemon`: everyone else lost access to it,
setgid set, nothing said. A directory phasegate did not make is never made less accessible:
one that lets the group in already (others' r-x counts) is kept as it is; one that does not
gets only what the group needs, said on stderr; one that would shut its own group out is
refused, before anything is made."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from phasegate.engine.model.errors import UsageError
from phasegate.engine.store.paths import run_dir, share

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
GROUP = "daemon"


def _why_not() -> str:
    if os.geteuid() != 0:
        return "giving a directory to another group needs root"
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        return f"there is no group {GROUP} here"
    return ""


pytestmark = pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory under /tmp that anyone may enter (tmp_path's parents are root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="pg-share-keep-", dir="/tmp"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def _looks(path: Path) -> tuple[str, int]:
    found = path.stat()
    return stat.filemode(found.st_mode), found.st_gid


def _user_dir(place: Path, mode: int) -> Path:
    mine = place / "d"
    mine.mkdir()
    mine.chmod(mode)
    (mine / "unrelated.txt").write_text("mine\n")
    return mine


def test_a_users_directory_open_to_everyone_is_kept_as_it_is(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = _user_dir(place, 0o755)
    before = _looks(mine)
    gid = grp.getgrnam(GROUP).gr_gid
    db = mine / "x.db"
    db.write_bytes(b"")
    said = share(str(db), run_dir(str(db), "r1"), gid)
    assert _looks(mine) == before == ("drwxr-xr-x", os.getegid())
    assert said == [] and capsys.readouterr().err == ""
    # the run's own directories are opened to the group, the database is its to read
    for made in (mine / "runs", mine / "runs" / "r1"):
        assert _looks(made) == ("drwxr-s---", gid)
    assert (stat.S_IMODE(db.stat().st_mode), db.stat().st_gid) == (0o640, gid)


def test_a_private_directory_gets_only_what_the_group_needs_and_it_is_said(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = _user_dir(place, 0o701)  # (others may pass, not list: the group needs to list)
    gid = grp.getgrnam(GROUP).gr_gid
    db = mine / "x.db"
    said = share(str(db), run_dir(str(db), "r1"), gid)
    assert _looks(mine) == ("drwxr-s--x", gid)  # (nothing taken away: o+x kept)
    assert len(said) == 1 and f"opened {mine} to group {GROUP}" in said[0]
    assert "it was 701 root:root, it is 2751 root:daemon" in said[0]
    assert said[0] in capsys.readouterr().err


def test_a_directory_that_would_shut_its_group_out_is_refused_unchanged(place: Path) -> None:
    mine = _user_dir(place, 0o750)  # (its group, root's, may list it; daemon may not)
    before = _looks(mine)
    gid = grp.getgrnam(GROUP).gr_gid
    db = mine / "x.db"
    with pytest.raises(UsageError, match="would shut group root out of"):
        share(str(db), str(mine / "runs" / "r1"), gid)
    assert _looks(mine) == before


@pytest.mark.slow
def test_the_command_line_keeps_the_users_directory_and_refuses_what_shuts_out(
    place: Path,
) -> None:
    plan = place / "p.yaml"
    plan.write_text(
        "name: p\nagents: {a: {}}\nphases:\n  - id: a\n    tasks: [{id: t, run: 'true'}]\n"
    )
    mine = _user_dir(place, 0o755)
    before = _looks(mine)
    done = subprocess.run(
        [PHASEGATE, "run", str(plan), "--headless", "-q", "--db", f"{mine}/x.db", "--share", GROUP],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=place,
    )
    assert done.returncode == 0, done.stderr
    assert _looks(mine) == before  # (drwxr-xr-x root:root, as the user made it)
    assert "opened" not in done.stderr
    closed = place / "c"
    closed.mkdir()
    closed.chmod(0o750)
    refused = subprocess.run(
        [PHASEGATE, "run", str(plan), "--headless", "--db", f"{closed}/x.db", "--share", GROUP],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=place,
    )
    assert refused.returncode == 2, refused.stderr
    assert f"--db {place}/c-{GROUP}/phasegate.db" in refused.stderr
    assert list(closed.iterdir()) == [] and _looks(closed)[0] == "drwxr-x---"
