"""Regressions of a bug hunt (hunt A), each test named by its bug, through the real CLI:

1. a reason over 64 KiB was applied, then the client crashed reading the answer (the default
   StreamReader limit), exit 1; a command over the engine's limit was sent to be refused;
2. `reject` of a gate with `on_reject: rewind_to` printed "the gate waiting" (a fixed sleep,
   then whatever state it saw) instead of what the engine did;
3. a database of another program, or no database at all, exited 1 (the run failed) not 2;
4. a read-only command on a typo in --db made a directory and a database;
5. `run --share GROUP` in a directory the group can never reach ran anyway;
6. `gates` told everyone `decide: phasegate approve`, the starter of a gate forbidding
   self-approval too.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from phasegate.engine.model.identity import current_identity

from .conftest import Run, spawn_pg, until

SLOW = """
name: slow
agents: {a: {slots: 2}}
phases:
  - id: build
    tasks: [{id: quick, run: "true"}, {id: slow, run: "sleep 60"}]
"""

REWIND = """
name: rewind
agents: {a: {}}
phases:
  - id: build
    tasks: [{id: b, run: "true"}]
gates:
  - {id: g, after: build, on_reject: {rewind_to: build, max_attempts: 2}}
"""


def _status(pg: Run, what: str, name: str) -> str:
    done = pg("show", "last", "--json")
    if done.returncode != 0:
        return ""
    shown = json.loads(done.stdout)
    found = {t["id"]: t["status"] for t in shown.get("tasks", [])} if what == "task" else {}
    if what == "gate":
        listed = pg("gates", "last", "--json")
        gates = json.loads(listed.stdout)["gates"] if listed.returncode == 0 else []
        found = {g["id"]: f"{g['status']}/{g['attempt']}" for g in gates}
    return str(found.get(name, ""))


def test_bug1_a_reason_over_64_kib_is_answered_and_one_too_long_is_not_sent(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    # (-q: the log line of the skip, its reason whole, is not left in a pipe no one reads)
    proc = spawn_pg(tmp_path, cli_env, "run", "slow.yaml", "--headless", "-q")
    try:
        until("the slow task to run", lambda: _status(pg, "task", "slow") == "running")
        # (each é is 6 bytes of JSON: 60,000 of them are over the engine's 256 KiB)
        too_long = pg("skip", "last", "slow", "--reason", "é" * 60_000)
        assert too_long.returncode == 2, too_long.stderr
        assert "at most 262,144" in too_long.stderr and "nothing was sent" in too_long.stderr
        assert _status(pg, "task", "slow") == "running"  # nothing applied
        done = pg("skip", "last", "slow", "--reason", "r" * 100_000)
        assert done.returncode == 0, done.stderr[-500:]
        assert "Traceback" not in done.stderr and "slow" in done.stdout
        until("the task to be skipped", lambda: _status(pg, "task", "slow") == "skipped")
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_bug2_reject_with_rewind_says_what_the_engine_did(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "rewind.yaml").write_text(REWIND)
    proc = spawn_pg(tmp_path, cli_env, "run", "rewind.yaml", "--headless")
    try:
        until("the gate to open", lambda: _status(pg, "gate", "g") == "open/1")
        first = pg("reject", "last", "g", "--reason", "not yet")
        assert first.returncode == 0, first.stderr
        assert "the gate rejected; phase build runs again (attempt 2 of 2)" in first.stdout
        assert "waiting" not in first.stdout
        until("the gate to open again", lambda: _status(pg, "gate", "g") == "open/2")
        second = pg("reject", "last", "g", "--reason", "still not")
        assert second.returncode == 0, second.stderr
        assert "the gate rejected after 2 of 2 attempts; the run fails" in second.stdout
        proc.communicate(timeout=30)
        assert proc.returncode == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize(
    "args", [["runs"], ["show", "last"], ["search", "foo"], ["report", "last"], ["run"]]
)
def test_bug3_a_file_that_is_no_phasegate_database_is_exit_2(
    pg: Run, tmp_path: Path, args: list[str]
) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE foo (x)")
        conn.commit()
    noise = tmp_path / "noise.db"
    noise.write_bytes(bytes(range(256)) * 20)
    if args == ["run"]:
        (tmp_path / "v.yaml").write_text(SLOW.replace("sleep 60", "true"))
        args = ["run", "v.yaml", "--headless"]
    for db, said in ((other, "not a phasegate one"), (noise, "file is not a database")):
        before = db.read_bytes()
        done = pg(*args, "--db", str(db))
        assert done.returncode == 2, (db, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr
        assert db.read_bytes() == before


def test_bug4_a_command_that_reads_creates_no_database(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    typo = tmp_path / "typo" / "x.db"
    for args in (["show", "last"], ["gates"], ["approve", "last", "g"], ["audit"]):
        done = pg(*args, "--db", str(typo))
        assert done.returncode == 2, (args, done.stderr)
        assert f"no database at {typo} (from --db)" in done.stderr, done.stderr
    listed = pg("runs", "--db", str(typo))  # (a list: none, and where it looked)
    assert listed.returncode == 0 and f"no runs yet (no database at {typo})" in listed.stdout
    env = dict(cli_env, PHASEGATE_DB=str(typo))
    done = spawn_pg(tmp_path, env, "logs", "last")
    _, err = done.communicate(timeout=30)
    assert done.returncode == 2 and "(from PHASEGATE_DB)" in err
    assert not typo.parent.exists()  # nothing was made


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory under /tmp that anyone may enter (tmp_path is its owner's alone)."""
    made = Path(tempfile.mkdtemp(prefix="pg-reach-", dir="/tmp"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_bug5_a_shared_run_the_group_cannot_reach_is_refused_before_it_runs(
    pg: Run, place: Path, tmp_path: Path
) -> None:
    group = grp.getgrgid(os.getegid()).gr_name
    closed = place / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    db = closed / "data" / "x.db"
    (tmp_path / "v.yaml").write_text(SLOW.replace("sleep 60", "true"))
    done = pg("run", "v.yaml", "--headless", "--share", group, "--db", str(db))
    assert done.returncode == 2, done.stderr
    assert f"group {group} could never reach this shared run" in done.stderr
    assert f"the directory {closed} " in done.stderr and "--db" in done.stderr
    assert not (closed / "data").exists()  # nothing of the run was made
    closed.chmod(0o711)  # (others may pass through: the group reaches it)
    opened = pg("run", "v.yaml", "--headless", "-q", "--share", group, "--db", str(db))
    assert opened.returncode == 0, opened.stderr


FORBIDS = """
name: forbids
agents: {{a: {{}}}}
phases:
  - id: build
    tasks: [{{id: b, run: "true"}}]
gates:
  - {{id: review, after: build, approvers: [{others}, {me}], forbid_self_approval: true}}
"""


def test_bug6_gates_speaks_to_the_user_and_marks_self_approval_forbidden(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    me = current_identity().user
    (tmp_path / "f.yaml").write_text(FORBIDS.format(others="daemon", me=me))
    proc = spawn_pg(tmp_path, cli_env, "run", "f.yaml", "--headless")
    try:
        until("the gate to open", lambda: _status(pg, "gate", "review") == "open/1")
        shown = pg("gates", "last")
        assert shown.returncode == 0, shown.stderr
        assert f"daemon, {me} (not {me})" in shown.stdout
        assert "decide: phasegate approve" not in shown.stdout
        assert "review: waits for 1 more approval from daemon" in shown.stdout
        assert "you started the run and it forbids self-approval" in shown.stdout
        listed = json.loads(pg("gates", "last", "--json").stdout)["gates"]
        review = next(g for g in listed if g["id"] == "review")
        assert review["may_decide"] is False and review["forbid_self_approval"] is True
    finally:
        proc.kill()
        proc.communicate()
