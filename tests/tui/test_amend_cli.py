"""`phasegate amend`: a live run's plan changed through a change gate, from the command line."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from .conftest import Run, show_last, spawn_pg, until

pytestmark = pytest.mark.slow  # (every test here takes seconds alone: make test-slow runs them)

PLAN = """name: amend-test
agents: {m: {}}
phases:
  - id: first
    tasks:
      - {id: one, run: 'echo one >> log', agent: m}
      - {id: bad, run: 'false', agent: m, on_failure: continue}
  - id: second
    tasks: [{id: two, run: 'echo two >> log', agent: m}]
gates:
  - {id: check, after: first, criteria: [{run: "true"}], approval: auto}
  - {id: review, after: first, criteria: [{run: "true"}], approval: manual}
"""
THREE = "{id: three, run: 'echo three >> log', agent: m, estimate: 30}"

# a phase under way: `a` runs until the file `go` exists
LIVE = """name: amend-live
agents: {m: {slots: 2}}
phases:
  - id: work
    tasks:
      - {id: a, run: 'while [ ! -e go ]; do sleep 0.05; done; echo a >> log', agent: m}
"""


def _gates(pg: Run) -> dict[str, dict[str, object]]:
    found = json.loads(pg("gates", "last", "--json").stdout)["gates"]
    return {g["id"]: g for g in found}


def _log(tmp_path: Path) -> list[str]:
    path = tmp_path / "log"
    return path.read_text().split() if path.exists() else []


def _waiting_at_review(pg: Run, tmp_path: Path, plan: str = PLAN) -> None:
    (tmp_path / "p.yaml").write_text(plan)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("the review gate to open", lambda: _gates(pg).get("review", {}).get("status") == "open")


def _amend(pg: Run, tmp_path: Path, text: str, *args: str) -> object:
    (tmp_path / "new.yaml").write_text(text)
    return pg("amend", "last", "new.yaml", *args)


def _finish(pg: Run) -> dict[str, object]:
    assert pg("approve", "last", "review", "--reason", "ok").returncode == 0
    until("the run to end", lambda: show_last(pg)["status"] != "running")
    return show_last(pg)


def test_a_task_added_to_a_phase_under_way_runs_once_approved(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(LIVE)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("a to run", lambda: show_last(pg)["tasks"][0]["status"] == "running")  # type: ignore[index]
    added = LIVE + "      - {id: b, run: 'echo b >> log', agent: m, needs: [a], estimate: 5}\n"
    done = _amend(pg, tmp_path, added, "--json")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    shown = json.loads(done.stdout)  # type: ignore[attr-defined]
    assert shown["change"] == "change-1"
    assert shown["diff"] == [
        {
            "what": "task",
            "id": "b",
            "change": "added",
            "phase": "work",
            "settings": {"run": "echo b >> log", "agent": "m", "needs": ["a"], "estimate": 5.0},
        }
    ]
    assert shown["impact"]["after"]["critical_path"] == ["a", "b"]
    assert shown["impact"]["after"]["eta"] > shown["impact"]["before"]["eta"]
    gate = _gates(pg)["change-1"]
    assert gate["kind"] == "change" and gate["status"] == "open"
    # nothing changes before the gate is decided
    assert [t["id"] for t in show_last(pg)["tasks"]] == ["a"]  # type: ignore[index]
    ok = pg("approve", "last", "change-1", "--reason", "needed")
    assert ok.returncode == 0 and "the plan is amended" in ok.stdout, ok.stderr
    (tmp_path / "go").touch()
    until("the run to end", lambda: show_last(pg)["status"] == "succeeded")
    assert _log(tmp_path) == ["a", "b"]
    data = show_last(pg)
    assert [a["change"] for a in data["amendments"]] == ["change-1"]  # type: ignore[index]
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    assert any(r["gate"] == "change-1" and r["decision"] == "approve" for r in rows)


def test_a_rejected_change_leaves_the_plan_as_it_was(pg: Run, tmp_path: Path) -> None:
    _waiting_at_review(pg, tmp_path)
    more = PLAN.replace("agent: m}]\ngates", f"agent: m}}, {THREE}]\ngates")
    assert _amend(pg, tmp_path, more).returncode == 0  # type: ignore[attr-defined]
    bare = pg("reject", "last", "change-1")
    assert bare.returncode != 0
    no = pg("reject", "last", "change-1", "--reason", "not now")
    assert no.returncode == 0, no.stderr
    assert _gates(pg)["change-1"]["status"] == "rejected"
    assert _finish(pg)["status"] == "succeeded"
    assert "three" not in _log(tmp_path)
    assert "amendments" in show_last(pg) and not show_last(pg)["amendments"]


def test_a_change_left_undecided_is_closed_as_the_run_ends(pg: Run, tmp_path: Path) -> None:
    """It stayed `open` for good: the report said `(open)` of an ended run, the trail had no
    end for it, and a dashboard's prompt for it stayed open."""
    _waiting_at_review(pg, tmp_path)
    more = PLAN.replace("agent: m}]\ngates", f"agent: m}}, {THREE}]\ngates")
    assert _amend(pg, tmp_path, more).returncode == 0  # type: ignore[attr-defined]
    assert _finish(pg)["status"] == "succeeded"  # (the review approved, the change not)
    assert "three" not in _log(tmp_path)
    rows = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    closed = [r for r in rows if r["gate"] == "change-1" and r["decision"] == "change refused"]
    assert closed and closed[0]["reason"] == "the run ended before it was decided", rows
    assert "change-1 by root (not decided)" in pg("report", "last").stdout


def test_a_pending_task_removed_does_not_run(pg: Run, tmp_path: Path) -> None:
    _waiting_at_review(pg, tmp_path)
    more = PLAN.replace(
        "tasks: [{id: two, run: 'echo two >> log', agent: m}]",
        f"tasks: [{THREE}]",
    )
    done = _amend(pg, tmp_path, more)
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "- task two removed" in done.stdout  # type: ignore[attr-defined]
    assert pg("approve", "last", "change-1").returncode == 0
    data = _finish(pg)
    assert data["status"] == "succeeded"
    assert "two" not in _log(tmp_path) and "three" in _log(tmp_path)
    assert "two" not in [t["id"] for t in data["tasks"]]  # type: ignore[index]
    # the reports' scope changes, and `diff` against a run of the plan as it was
    lessons = pg("report", "last", "--kind", "lessons").stdout
    assert "### Scope changes" in lessons and "change-1 by " in lessons
    assert "- task two removed" in lessons.replace("\\", "")
    amended = str(data["id"])
    (tmp_path / "again.yaml").write_text(PLAN.replace("approval: manual", "approval: auto"))
    assert pg("run", "again.yaml", "--headless").returncode == 0
    compared = pg("diff", amended, "last").stdout
    assert "scope changes applied: 1 -> 0" in compared, compared


def test_a_gates_approvers_changed_before_it_opens_and_the_change_rejected(
    pg: Run, tmp_path: Path
) -> None:
    plan = PLAN + "  - {id: final, after: second}\n"
    _waiting_at_review(pg, tmp_path, plan)
    strict = plan.replace(
        "{id: final, after: second}", "{id: final, after: second, approvers: [daemon]}"
    )
    done = _amend(pg, tmp_path, strict)
    assert "~ gate final: approvers: - -> [daemon]" in done.stdout  # type: ignore[attr-defined]
    assert pg("approve", "last", "change-1").returncode == 0
    # back again: a second change, rejected this time, leaves the new approvers
    assert _amend(pg, tmp_path, plan).returncode == 0  # type: ignore[attr-defined]
    assert pg("reject", "last", "change-2", "--reason", "no").returncode == 0
    assert pg("approve", "last", "review", "--reason", "ok").returncode == 0
    until("the final gate to open", lambda: _gates(pg).get("final", {}).get("status") == "open")
    refused = pg("approve", "last", "final", "--reason", "ok")
    assert refused.returncode == 1 and "approvers: daemon" in refused.stderr
    assert pg("cancel", "last").returncode == 0


def test_an_open_gate_is_decided_before_it_changes(pg: Run, tmp_path: Path) -> None:
    """Regression: an open manual gate amended to `approval: auto` was accepted and applied,
    and the gate stayed open, waiting for a manual decision (the gatekeeper keeps the gate it
    opened)."""
    _waiting_at_review(pg, tmp_path)
    done = _amend(pg, tmp_path, PLAN.replace("approval: manual}", "approval: auto}"))
    assert done.returncode == 1, done.stdout  # type: ignore[attr-defined]
    assert done.stderr == (  # type: ignore[attr-defined]
        "phasegate: refused: gate 'review' is open: decide it (approve/reject) before changing it\n"
    )
    assert "change-1" not in _gates(pg) and _gates(pg)["review"]["status"] == "open"
    assert _finish(pg)["status"] == "succeeded"


def test_restart_of_an_unknown_task_is_bad_input(pg: Run, tmp_path: Path) -> None:
    """Regression: `--restart nosuch` was the engine's refusal `it is not running` (exit 1),
    where every other command says the run has no such task (exit 2)."""
    _waiting_at_review(pg, tmp_path)
    run = show_last(pg)["id"]
    more = PLAN.replace("agent: m}]\ngates", f"agent: m}}, {THREE}]\ngates")
    unknown = _amend(pg, tmp_path, more, "--restart", "nosuch")
    assert unknown.returncode == 2, unknown.stderr  # type: ignore[attr-defined]
    assert unknown.stderr == (  # type: ignore[attr-defined]
        f"phasegate: run {run} has no task 'nosuch'; its tasks: bad, one, two\n"
    )
    # a task the new plan adds is known: the engine says why it cannot restart it
    added = _amend(pg, tmp_path, more, "--restart", "three")
    assert added.returncode == 1  # type: ignore[attr-defined]
    assert "--restart three: it is not running" in added.stderr  # type: ignore[attr-defined]
    assert "change-1" not in _gates(pg)
    assert _finish(pg)["status"] == "succeeded"


def test_every_refusal_says_why(pg: Run, tmp_path: Path) -> None:
    _waiting_at_review(pg, tmp_path)
    cases = {
        "task 'one' has finished (succeeded): it cannot be removed": PLAN.replace(
            "      - {id: one, run: 'echo one >> log', agent: m}\n", ""
        ),
        "task 'one' has finished (succeeded): it cannot be changed": PLAN.replace(
            "echo one >> log", "echo uno >> log"
        ),
        "phase 'first' has finished (succeeded): it cannot get task 'three'": PLAN.replace(
            "on_failure: continue}\n", f"on_failure: continue}}\n      - {THREE}\n"
        ),
        "may not need 'bad', which already failed": PLAN.replace(
            "agent: m}]\ngates", f"agent: m}}, {THREE[:-1]}, needs: [bad]}}]\ngates"
        ),
        "gate 'check' has passed: it cannot be changed": PLAN.replace(
            "approval: auto}", "approval: auto, approvers: [x]}"
        ),
        "nothing to change": PLAN,
    }
    for why, text in cases.items():
        done = _amend(pg, tmp_path, text)
        assert done.returncode == 1, (why, done.stdout)  # type: ignore[attr-defined]
        assert why in done.stderr, done.stderr  # type: ignore[attr-defined]
    cycle = PLAN.replace(
        "agent: m}]\ngates", f"agent: m, needs: [three]}}, {THREE[:-1]}, needs: [two]}}]\ngates"
    )
    done = _amend(pg, tmp_path, cycle)
    assert done.returncode == 2 and "cycle" in done.stderr.lower()  # type: ignore[attr-defined]
    # as JSON with --json (it printed the problems as text)
    said = _amend(pg, tmp_path, cycle, "--json")
    assert said.returncode == 2  # type: ignore[attr-defined]
    shown = json.loads(said.stdout)  # type: ignore[attr-defined]
    assert shown["sent"] is False and any(
        "cycle" in p["message"].lower() for p in shown["problems"]
    )
    assert "change-1" not in _gates(pg)
    assert _finish(pg)["status"] == "succeeded"


def test_a_running_tasks_command_changes_only_with_restart(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(LIVE)
    assert pg("run", "p.yaml", "--detach").returncode == 0
    until("a to run", lambda: show_last(pg)["tasks"][0]["status"] == "running")  # type: ignore[index]
    quick = LIVE.replace("while [ ! -e go ]; do sleep 0.05; done; echo a >> log", "echo A >> log")
    done = _amend(pg, tmp_path, quick)
    assert done.returncode == 1  # type: ignore[attr-defined]
    assert "task 'a' is running: its command changes only with" in done.stderr  # type: ignore[attr-defined]
    slow = LIVE.replace("agent: m}", "agent: m, timeout: 99}")
    done = _amend(pg, tmp_path, slow, "--restart", "a")
    assert "its timeout cannot change" in done.stderr  # type: ignore[attr-defined]
    done = _amend(pg, tmp_path, quick, "--restart", "a")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert pg("approve", "last", "change-1").returncode == 0
    until("the run to end", lambda: show_last(pg)["status"] == "succeeded")
    assert _log(tmp_path) == ["A"]
    assert show_last(pg)["tasks"][0]["attempts"] == 2  # type: ignore[index]


def test_resume_after_kill_9_follows_the_amended_plan(
    pg: Run, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    _waiting_at_review(pg, tmp_path)
    more = PLAN.replace("agent: m}]\ngates", f"agent: m}}, {THREE}]\ngates")
    assert _amend(pg, tmp_path, more).returncode == 0  # type: ignore[attr-defined]
    assert pg("approve", "last", "change-1").returncode == 0
    until("the amendment", lambda: bool(show_last(pg)["amendments"]))
    os.kill(int(show_last(pg)["engine_pid"]), signal.SIGKILL)  # type: ignore[arg-type]
    until("the engine to die", lambda: pg("gates", "last").returncode == 0 and _dead(pg))
    proc = spawn_pg(tmp_path, cli_env, "resume", "last", "--headless")
    until("the engine to come back", lambda: not _dead(pg))
    until("approve to be taken", lambda: pg("approve", "last", "review").returncode == 0)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(_log(tmp_path)) == ["one", "three", "two"]  # (three first: it is longer)
    assert [t["id"] for t in show_last(pg)["tasks"]] == ["one", "bad", "two", "three"]  # type: ignore[index]


def _dead(pg: Run) -> bool:
    return show_last(pg)["status"] == "interrupted"


def test_a_vote_that_leaves_a_change_waiting_says_so_at_once(pg: Run, tmp_path: Path) -> None:
    """A change that weakens a gate waits for that gate's approvers too: the starter's approval
    says how it stands, at once (it waited 10 s, then said `the engine took the decision`)."""
    plan = PLAN + "  - {id: final, after: second, approvers: [daemon, bin], quorum: 2}\n"
    _waiting_at_review(pg, tmp_path, plan)
    weaker = plan.replace("approvers: [daemon, bin], quorum: 2", "approvers: [daemon, bin]")
    assert _amend(pg, tmp_path, weaker).returncode == 0  # type: ignore[attr-defined]
    voted = pg("approve", "last", "change-1")
    assert voted.returncode == 0, voted.stderr
    assert "approved change-1 of run" in voted.stdout
    assert "1 approval so far, it waits for more" in voted.stdout, voted.stdout
    assert _gates(pg)["change-1"]["status"] == "open"
    assert pg("cancel", "last").returncode == 0
