"""Several people on one run, as real OS users: the run's starter shares it with a group
(`run --share GROUP`); approvers approve through the engine's socket, which knows who they are
from the kernel; everybody else is refused, and every refusal is audited; rows written into
the database are no decisions, and `audit --verify` finds them.

The users and the group are created here (useradd, as root) and run the real CLI with the
distribution's python3 (the project's venv python lives in root's home, which they cannot
enter) and the venv's packages on PYTHONPATH. Skipped, with the reason, where that is not
possible.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import phasegate

from .conftest import until

GROUP = "pgteam"
STARTER, ALICE, BOB, MALLORY, CAROL = "pgstart", "pgalice", "pgbob", "pgmallory", "pgcarol"
TEAM = (STARTER, ALICE, BOB, MALLORY, CAROL)
PYTHON = "/usr/bin/python3"
ROOT = str(Path(phasegate.__file__).resolve().parent.parent)  # (phasegate/ links engine, tui)
PACKAGES = sysconfig.get_paths()["purelib"]
MAIN = "import sys; from phasegate.tui.cli.main import main; sys.argv[0] = 'phasegate'; main()"


def _why_not() -> str:
    if os.geteuid() != 0:
        return "creating OS users needs root"
    if not (shutil.which("useradd") and shutil.which("runuser")):
        return "useradd and runuser are needed"
    if not os.path.exists(PYTHON):
        return f"{PYTHON} (the distribution's python) is needed"
    found = subprocess.run(
        [PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    if found.stdout.strip() != str(sys.version_info[:2]):
        return f"{PYTHON} is not Python {sys.version_info[0]}.{sys.version_info[1]}"
    return ""


pytestmark = [
    pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-"),
    # the OS users, their group and their homes are the machine's, made and removed by the
    # module's fixture: the tests that use them run one after another in one pytest-xdist worker
    pytest.mark.xdist_group("os-users"),
]


@pytest.fixture(scope="module")
def team() -> Iterator[None]:
    """The group and its users (the starter, two approvers, an observer, an operator)."""
    made: list[str] = []
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append("group")
    for user in TEAM:
        try:
            pwd.getpwnam(user)
            subprocess.run(["usermod", "-a", "-G", GROUP, user], check=True)  # (left behind)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-G", GROUP, user], check=True)
            made.append(user)
    probe = _as(STARTER, ["-c", "import phasegate.tui.cli.main"], {})
    if probe.returncode != 0:
        pytest.skip(f"another user cannot import phasegate from {ROOT}: {probe.stderr[-300:]}")
    yield
    for user in made:
        if user != "group":
            subprocess.run(["userdel", user], check=False)
    if "group" in made:
        subprocess.run(["groupdel", GROUP], check=False)


def _as(
    user: str, argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    home = f"/tmp/{user}-home"
    os.makedirs(home, exist_ok=True)
    os.chown(home, pwd.getpwnam(user).pw_uid, -1)
    os.chmod(home, 0o700)
    clean = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "PYTHONPATH": f"{ROOT}:{PACKAGES}",
        "NO_COLOR": "1",
        **env,
    }
    pairs = [f"{k}={v}" for k, v in clean.items()]
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *pairs, PYTHON, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=env.get("CWD", "/tmp"),
    )


Pg = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def shared(team: None) -> Iterator[tuple[Path, Pg]]:
    """A place the team can reach (tmp_path is root's alone), and `pg(user, *args)`."""
    place = Path(tempfile.mkdtemp(prefix="pg-shared-", dir="/tmp"))
    place.chmod(0o755)
    work = place / "work"
    work.mkdir()
    shutil.chown(work, STARTER)
    db = place / "data" / "runs.db"
    (place / "data").mkdir(mode=0o700)
    shutil.chown(place / "data", STARTER)

    def pg(user: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {"PHASEGATE_DB": str(db), "CWD": str(work)}
        return _as(user, ["-c", MAIN, *args], env, timeout)

    yield place, pg
    subprocess.run(["pkill", "-u", STARTER], check=False)  # (an engine a failed test left)
    shutil.rmtree(place, ignore_errors=True)


PLAN = f"""
name: shared
share: {GROUP}
roles: {{operators: [{CAROL}]}}
agents: {{a: {{}}}}
phases:
  - id: build
    tasks: [{{id: make, run: "echo built"}}]
  - id: ship
    tasks: [{{id: deploy, run: "echo shipped > shipped.txt"}}]
gates:
  - id: review
    after: build
    approvers: [{ALICE}, {BOB}, {STARTER}]
    quorum: 2
    forbid_self_approval: true
"""


def _start(place: Path, pg: Pg, plan: str, *extra: str) -> str:
    path = place / "work" / "plan.yaml"
    path.write_text(plan)
    done = pg(STARTER, "run", str(path), "--detach", *extra)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]

    def gate_open() -> bool:
        found = pg(STARTER, "gates", run_id, "--json")
        gates = json.loads(found.stdout)["gates"] if found.returncode == 0 else []
        return any(g["id"] == "review" and g["status"] == "open" for g in gates)

    until("the gate to open", gate_open)
    return run_id


@pytest.mark.slow
def test_approvers_policy_holds_on_verified_users_and_every_refusal_is_audited(
    shared: tuple[Path, Pg],
) -> None:
    place, pg = shared
    run_id = _start(place, pg, PLAN)
    db = place / "data" / "runs.db"
    # shared: the group reads the database and reaches the socket; only the starter writes
    assert (
        oct(db.stat().st_mode & 0o777) == "0o640" and db.stat().st_gid == grp.getgrnam(GROUP).gr_gid
    )
    sock = place / "data" / "runs" / run_id / "engine.sock"
    assert oct(sock.stat().st_mode & 0o777) == "0o660"

    refused = pg(MALLORY, "approve", run_id, "review", "--reason", "me too")
    assert refused.returncode == 1
    assert f"{MALLORY} may not decide gate 'review'" in refused.stderr
    own = pg(STARTER, "approve", run_id, "review", "--reason", "mine")
    assert own.returncode == 1 and "forbids self-approval" in own.stderr
    first = pg(ALICE, "approve", run_id, "review", "--reason", "looks right")
    assert first.returncode == 0, first.stderr
    assert "1 of 2 approvals, still waiting" in first.stdout
    again = pg(ALICE, "approve", run_id, "review", "--reason", "twice")
    assert again.returncode == 1 and "has approved already" in again.stderr
    # an observer may not operate; the plan's operator may
    pause = pg(MALLORY, "pause", run_id)
    assert pause.returncode == 1 and "may observe this run but not operate it" in pause.stderr
    note = pg(CAROL, "note", run_id, "watching the deploy")
    assert note.returncode == 0, note.stderr
    # nobody but the starter can write the database
    write = _as(
        MALLORY,
        ["-c", f"import sqlite3; sqlite3.connect('{db}').execute('delete from events')"],
        {},
    )
    assert write.returncode != 0 and "readonly" in write.stderr

    second = pg(BOB, "approve", run_id, "review", "--reason", "ship it")
    assert second.returncode == 0, second.stderr and "the gate passed" in second.stdout
    until("the run to end", lambda: "succeeded" in pg(MALLORY, "show", run_id).stdout)
    assert (place / "work" / "shipped.txt").exists()

    audit = json.loads(pg(MALLORY, "audit", run_id, "--json").stdout)["audit"]
    rows = [(r["user"], r["uid"], r["decision"], r["accepted"]) for r in audit if r.get("uid")]
    uid = {u: pwd.getpwnam(u).pw_uid for u in TEAM}
    assert rows == [
        (STARTER, uid[STARTER], "run started", True),
        (MALLORY, uid[MALLORY], "approve", False),
        (STARTER, uid[STARTER], "approve", False),
        (ALICE, uid[ALICE], "approve", True),
        (ALICE, uid[ALICE], "approve", False),
        (MALLORY, uid[MALLORY], "pause", False),
        (CAROL, uid[CAROL], "note", True),
        (BOB, uid[BOB], "approve", True),
    ]
    verify = pg(MALLORY, "audit", run_id, "--verify")
    assert verify.returncode == 0 and "holds" in verify.stdout, verify.stdout + verify.stderr


@pytest.mark.slow
def test_rows_written_into_the_database_decide_nothing_and_verify_flags_them(
    shared: tuple[Path, Pg],
) -> None:
    place, pg = shared
    plan = PLAN.replace("quorum: 2", "quorum: 1")
    run_id = _start(place, pg, plan)
    db = place / "data" / "runs.db"
    # the starter owns the file: she writes an approval in the old inbox, and a vote event
    forge = f"""
import json, sqlite3, time
c = sqlite3.connect({str(db)!r}, timeout=10)
c.execute("insert into commands(run_id, kind, args, author, created_at) values (?,?,?,?,?)",
          ({run_id!r}, "approve", json.dumps({{"gate": "review"}}), {ALICE!r}, time.time()))
seq = c.execute("select max(seq) from events where run_id=?", ({run_id!r},)).fetchone()[0]
vote = {{"gate": "review", "decision": "approve", "user": {ALICE!r}, "uid": 0}}
c.execute("insert into events(run_id, seq, type, ts, v, data) values (?,?,?,?,?,?)",
          ({run_id!r}, seq + 1000, "gate.voted", time.time(), 1, json.dumps(vote)))
c.commit()
"""
    assert _as(STARTER, ["-c", forge], {}).returncode == 0
    time.sleep(1.5)  # (the old engine took a written row within 0.25 s: give it six times that)
    gates = json.loads(pg(STARTER, "gates", run_id, "--json").stdout)["gates"]
    assert [g["status"] for g in gates if g["id"] == "review"] == ["open"]
    assert not (place / "work" / "shipped.txt").exists()
    verify = pg(BOB, "audit", run_id, "--verify")
    assert verify.returncode == 1
    assert "carries no hash: inserted by hand" in verify.stdout
    done = pg(BOB, "approve", run_id, "review", "--reason", "ok")
    assert done.returncode == 0, done.stderr
    until("the run to end", lambda: "succeeded" in pg(BOB, "show", run_id).stdout)


class Dashboard:
    """`phasegate attach RUN` as `user`, in tmux at 80x24, colour off."""

    def __init__(self, place: Path, user: str, run_id: str) -> None:
        self.session = f"pg{user}{os.getpid()}"
        home = f"/tmp/{user}-home"
        os.makedirs(home, exist_ok=True)
        os.chown(home, pwd.getpwnam(user).pw_uid, -1)
        env = (
            f"PATH=/usr/bin:/bin HOME={home} PYTHONPATH={ROOT}:{PACKAGES} TERM=xterm-256color "
            f"NO_COLOR=1 PHASEGATE_DB={place / 'data' / 'runs.db'}"
        )
        command = f'runuser -u {user} -- env -i {env} {PYTHON} -c "{MAIN}" attach {run_id}'
        tmux = ["tmux", "new-session", "-d", "-s", self.session, "-x", "80", "-y", "24"]
        subprocess.run([*tmux, command], check=True)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True
        ).stdout

    def press(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], check=False)


@pytest.mark.slow
def test_a_second_users_dashboard_sees_the_prompt_and_approves_with_a(
    shared: tuple[Path, Pg],
) -> None:
    if not shutil.which("tmux"):
        pytest.skip("tmux is needed")
    place, pg = shared
    run_id = _start(place, pg, PLAN.replace("quorum: 2", "quorum: 1"))
    watcher = Dashboard(place, MALLORY, run_id)  # in the group, neither approver nor operator
    bob = Dashboard(place, BOB, run_id)
    try:
        until("the observer's dashboard", lambda: "review" in watcher.screen())
        assert "approve" not in watcher.screen().lower().split("waits for")[0]  # no prompt
        # she may look, not steer: her footer offers no pause, her quit dialog no stop (they
        # were offered, and refused after the fact in every dashboard)
        footer = watcher.screen().rstrip("\n").splitlines()[-1]
        assert "Detach" in footer and "Pause" not in footer, footer
        watcher.press("p", "n")
        watcher.press("q")
        until("her quit dialog", lambda: "leave it running" in watcher.screen())
        assert "stop the run" not in watcher.screen() and "Note for" not in watcher.screen()
        watcher.press("Escape")
        until("the gate prompt", lambda: "review" in bob.screen() and "approve" in bob.screen())
        bob.press("a")  # (asks to confirm, a reason if he likes: ctrl+s approves)
        until("the confirmation", lambda: "ctrl+s confirms" in bob.screen())
        bob.press("C-s")
        until("the run to end", lambda: "succeeded" in pg(BOB, "show", run_id).stdout)
    finally:
        watcher.close()
        bob.close()

    def dashboards_gone() -> bool:
        found = subprocess.run(["pgrep", "-f", f"attach {run_id}"], capture_output=True)
        return found.returncode == 1

    # (runuser passes no SIGHUP on: the dashboard sees its terminal gone and leaves, not spins)
    until("the dashboards to leave with their terminals", dashboards_gone, seconds=10)
    audit = json.loads(pg(BOB, "audit", run_id, "--json").stdout)["audit"]
    votes = [(r["user"], r["uid"], r["accepted"]) for r in audit if r["decision"] == "approve"]
    assert votes == [(BOB, pwd.getpwnam(BOB).pw_uid, True)]
    assert not [r for r in audit if r["decision"] in ("pause", "note")]  # nothing she sent


def test_a_shared_runs_other_users_see_a_secret_only_redacted(
    shared: tuple[Path, Pg],
) -> None:
    place, _ = shared
    canary = "ghp_" + os.urandom(18).hex()[:36]
    plan = f"""
name: secret
share: {GROUP}
secrets: {{TOKEN: {{env: PG_CANARY}}}}
agents: {{a: {{secrets: [TOKEN]}}}}
phases:
  - id: p
    tasks: [{{id: t, run: "sh -c 'echo using $TOKEN'"}}]
"""
    (place / "work" / "plan.yaml").write_text(plan)
    env = {"PHASEGATE_DB": str(place / "data" / "runs.db"), "CWD": str(place / "work")}
    done = _as(
        STARTER, ["-c", MAIN, "run", "plan.yaml", "--headless"], {**env, "PG_CANARY": canary}
    )
    assert done.returncode == 0, done.stderr
    seen = _as(MALLORY, ["-c", MAIN, "logs", "last", "t"], env)
    assert seen.returncode == 0, seen.stderr
    assert "using «TOKEN»" in seen.stdout and canary not in seen.stdout
    shown = _as(MALLORY, ["-c", MAIN, "show", "last", "--json"], env)
    assert canary not in shown.stdout
    # nothing she can read holds it: the database (and its WAL) and the run's directory
    for path in (place / "data").rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_doctor_on_a_shared_database_of_another_user_fails_nothing(
    shared: tuple[Path, Pg],
) -> None:
    """Regression: a member of a shared run's group ran `doctor` on its database: `data
    directory ... is not writable` and `attempt to write a readonly database` (no engine had it
    open: a reader may not make its WAL shared memory), both FAIL."""
    place, pg = shared
    (place / "work" / "plan.yaml").write_text(
        f"name: d\nshare: {GROUP}\nagents: {{a: {{}}}}\n"
        'phases: [{id: p, tasks: [{id: t, run: "true"}]}]\n'
    )
    done = pg(STARTER, "run", str(place / "work" / "plan.yaml"), "--headless")
    assert done.returncode == 0, done.stderr
    assert not (place / "data" / "runs.db-shm").exists()  # (its engine is gone)
    doctor = pg(ALICE, "doctor")
    assert "FAIL" not in doctor.stdout, doctor.stdout
    assert f"{STARTER}'s, shared with group {GROUP}" in doctor.stdout
    assert "journal          journal_mode=wal" in doctor.stdout
    assert "quick_check passed" in doctor.stdout
