"""Gates from the command line: another process approves or rejects while the engine waits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from phasegate.engine.model.identity import current_identity

from .conftest import Run, spawn_pg

GATED = """
name: gated
agents: {{a: {{}}}}
phases:
  - id: first
    tasks: [{{id: one, run: "echo one"}}]
  - id: second
    tasks: [{{id: two, run: "touch two-ran"}}]
gates:
  - {{id: review, after: first, criteria: [{{run: "true"}}]{extra}}}
"""


def _start(tmp_path: Path, env: dict[str, str], extra: str = "") -> subprocess.Popen[str]:
    (tmp_path / "gated.yaml").write_text(GATED.format(extra=extra))
    proc = spawn_pg(tmp_path, env, "run", "gated.yaml", "--headless")
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the engine says the gate waits
        if "waits for approval" in line:
            assert "phasegate approve" in line and "review" in line
            break
    return proc


def test_approve_from_another_process(pg: Run, tmp_path: Path, cli_env: dict[str, str]) -> None:
    proc = _start(tmp_path, cli_env)
    listed = json.loads(pg("gates", "--json").stdout)["gates"]
    assert [(g["id"], g["status"], g["after"]) for g in listed] == [("review", "open", "first")]
    assert listed[0]["criteria"][0]["passed"] is True
    assert not (tmp_path / "two-ran").exists()  # the phase after the gate waits
    text = pg("gates")
    assert "phasegate approve" in text.stdout
    done = pg("approve", "last", "review", "--reason", "looks good")
    assert done.returncode == 0, done.stderr
    assert "the gate passed" in done.stdout
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (tmp_path / "two-ran").exists()
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    me = current_identity()
    vote = next(r for r in rows if r["decision"] == "approve")
    assert (vote["user"], vote["uid"], vote["reason"]) == (me.user, me.uid, "looks good")
    assert len(vote["evidence_hash"]) == 64
    assert pg("gates", "--json").stdout.count('"review"') == 0  # nothing waits any more


def test_a_rejected_gate_fails_the_run_with_exit_1(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = _start(tmp_path, cli_env)
    missing = pg("reject", "last", "review")
    assert missing.returncode == 2 and "--reason" in missing.stderr
    done = pg("reject", "last", "review", "--reason", "not yet")
    assert done.returncode == 0 and "the gate rejected" in done.stdout
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert not (tmp_path / "two-ran").exists()
    shown = json.loads(pg("show", "last", "--json").stdout)
    assert shown["status"] == "failed" and "not yet" in shown["reason"]


def test_a_refused_approval_exits_1_and_names_who_may(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = _start(tmp_path, cli_env, extra=", approvers: [daemon], timeout: 20")
    refused = pg("approve", "last", "review")
    assert refused.returncode == 1
    assert "may not decide gate 'review'; approvers: daemon" in refused.stderr
    proc.terminate()
    proc.communicate(timeout=30)
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    decisions = [r for r in rows if r["gate"] == "review"]
    assert decisions[0]["accepted"] is False and "daemon" in decisions[0]["why"]
    # the trail also has the run's start, the cancel (SIGTERM) and the run's end
    assert rows[0]["decision"] == "run started" and rows[-1]["decision"] == "run cancelled"


def test_deciding_a_finished_run_is_refused(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: x\nagents: {a: {}}\nphases: [{id: p, tasks: [{id: t, run: 'true'}]}]\n"
        "gates: [{id: review, after: p, approval: auto, criteria: [{run: 'true'}]}]\n"
    )
    assert pg("run", "p.yaml", "--headless").returncode == 0
    done = pg("approve", "last", "review")
    assert done.returncode == 1 and "no live engine" in done.stderr


@pytest.mark.slow
def test_twenty_decisions_at_once_decide_once_and_every_other_is_told_why(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    proc = _start(tmp_path, cli_env)
    clients = [
        spawn_pg(tmp_path, cli_env, "approve", "last", "review", "--reason", f"yes {i}")
        if i % 2
        else spawn_pg(tmp_path, cli_env, "reject", "last", "review", "--reason", f"no {i}")
        for i in range(20)
    ]
    said = [(c.wait(timeout=60), *c.communicate()) for c in clients]
    proc.communicate(timeout=30)
    decided = [(out, err) for code, out, err in said if code == 0]
    refused = [err for code, _, err in said if code == 1]
    assert len(decided) == 1 and len(refused) == 19, said
    out = decided[0][0]
    # the one that decided says what it decided, and the gate agrees
    assert ("approved" in out and "the gate passed" in out) or (
        "rejected" in out and "the gate rejected" in out
    ), out
    # each of the others says why: the gate was decided, or the run had ended by then
    reasons = ("refused: gate 'review'", "has no live engine", "no engine holds run", "ended")
    unclear = [e for e in refused if not any(r in e for r in reasons) or "Traceback" in e]
    assert not unclear, unclear
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    votes = [r for r in rows if r["gate"] == "review" and r["decision"] in ("approve", "reject")]
    assert sum(r["accepted"] for r in votes) == 1  # (the refused ones the engine took: audited)
    assert all(not r["accepted"] and r["why"] for r in votes[1:])


def test_a_gate_the_run_never_reached_is_listed_as_not_reached(pg: Run, tmp_path: Path) -> None:
    # (it said `waiting`, as if it waited for a decision, in a run that had failed before it)
    (tmp_path / "early.yaml").write_text(
        "name: early\n"
        "agents: {a: {}}\n"
        "phases:\n"
        "  - {id: one, tasks: [{id: bad, run: 'exit 3'}]}\n"
        "  - {id: two, tasks: [{id: later, run: 'true'}]}\n"
        "gates: [{id: review, after: one}]\n"
    )
    assert pg("run", "early.yaml", "--headless", "-q").returncode == 1
    listed = pg("gates", "last")
    assert listed.returncode == 0 and "not reached" in listed.stdout, listed.stdout
    assert "waiting" not in listed.stdout
    # and the same word for a script: "waiting" read as waiting for a decision
    gates = json.loads(pg("gates", "last", "--json").stdout)["gates"]
    assert [(g["id"], g["status"]) for g in gates] == [("review", "not_reached")]


def test_hints_name_the_database_the_run_is_in(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (a hint copied as shown looked in the default database, and found no such run)
    (tmp_path / "gated.yaml").write_text(GATED.format(extra=""))
    other = str(tmp_path / "other.db")
    proc = spawn_pg(tmp_path, cli_env, "run", "gated.yaml", "--headless", "--db", other)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if "waits for approval" in line:
                assert line.rstrip().endswith(f"--reason TEXT --db {other}"), line
                break
        listed = pg("gates", "last", "--db", other).stdout
        assert "decide: phasegate approve" in listed and f"--reason TEXT --db {other}" in listed
        resumed = pg("resume", "last", "--db", other)
        assert "`phasegate attach " in resumed.stdout + resumed.stderr
        assert f" --db {other}`" in resumed.stdout + resumed.stderr
        assert pg("approve", "last", "review", "--db", other).returncode == 0
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert pg("gates", "last").returncode == 2  # (not in the default database)


def test_a_quiet_run_still_says_what_waits_for_a_person(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # (under -q a run at a manual gate printed nothing and seemed to hang)
    (tmp_path / "gated.yaml").write_text(GATED.format(extra=""))
    proc = spawn_pg(tmp_path, cli_env, "run", "gated.yaml", "--headless", "-q")
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        assert "gate review waits for approval: phasegate approve" in first, first
        assert pg("approve", "last", "review").returncode == 0
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "started" not in rest  # (the rest stays quiet)
