"""Budgets of wall time (issue 17, point 4): the summed run time of a scope's attempts, checked
every second while they run; spent, the scope's running tasks are stopped and the rest never
start, with the reason; `ask` pauses with the question, and `resume` extends it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import Run, show_last, until

STOP = """
name: wall
agents: {w: {slots: 1}}
phases:
  - id: p
    budget: {seconds: 1s, action: stop}
    tasks:
      - {id: long, run: "sleep 60"}
      - {id: later, run: "true", needs: [long]}
      - {id: queued, run: "true", priority: -1}
  - id: q
    tasks: [{id: free, run: "true"}]
"""


def test_a_phase_out_of_wall_time_stops_its_tasks(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(STOP)
    done = pg("run", "plan.yaml", "--headless", timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    tasks = {t["id"]: t for t in show_last(pg)["tasks"]}  # type: ignore[attr-defined]
    assert tasks["long"]["status"] == "cancelled"
    assert tasks["long"]["reason"].startswith("the budget of phase p is spent (1.")
    assert tasks["long"]["duration"] < 10  # stopped, not waited for
    assert tasks["later"]["status"] == "blocked"
    # waiting for the slot, it never started: it fails with the reason, never logged `started`
    assert tasks["queued"]["status"] == "failed"
    assert tasks["queued"]["reason"] == tasks["long"]["reason"]
    assert [
        line for line in done.stdout.splitlines() if "queued" in line and "started" in line
    ] == []
    # the run's reason names the budget; the risk stays open (the budget is spent for good)
    assert show_last(pg)["reason"] == f"phase 'p' failed: {tasks['long']['reason']}"
    risks = json.loads(pg("risks", "last", "--json").stdout)["risks"]
    spent = [r for r in risks if r["key"] == "budget:phase p"]
    assert spent and spent[0]["severity"] == "high" and "s of 1.0s spent" in spent[0]["message"]
    # the budget's action is in the audit, as a command of its own
    audit = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    stop = [r for r in audit if r["decision"] == "stop"]
    assert len(stop) == 1 and stop[0]["user"] == "budget" and stop[0]["target"] == "phase p"
    assert stop[0]["outcome"].endswith("none of its tasks starts again; stopped: long")


ASK = """
name: wall-ask
kill_grace: 1s
agents: {w: {}}
phases:
  - id: p
    budget: {seconds: 1s, action: ask}
    tasks:
      - {id: slow, run: "sleep 60"}
      - {id: after, run: "true", needs: [slow]}
"""


@pytest.mark.slow
def test_asking_pauses_the_run_and_resume_extends_the_wall_time(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(ASK)
    started = pg("run", "plan.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    asked: list[dict[str, str]] = []

    def asking() -> bool:
        question = show_last(pg)["question"]
        if isinstance(question, dict) and question not in asked:
            asked.append(question)
            return True
        return False

    until("the budget's question", asking)
    assert asked[0]["risk"] == "budget:phase p"
    assert "resume to extend it by 1.0s, or cancel the run" in asked[0]["reason"]
    shown = show_last(pg)
    assert shown["status"] == "paused" and shown["tasks"][1]["status"] == "pending"  # type: ignore[index]
    # going on extends it by 1 s: the task runs on, spends that too, and it asks again
    assert pg("resume", "last").returncode == 0
    until("the second question", asking)
    assert "s of 2.0s spent" in asked[1]["reason"]
    assert pg("cancel", "last").returncode == 0
    until("the run to end", lambda: show_last(pg)["status"] == "cancelled", seconds=30)
    audit = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    assert [r["reason"] for r in audit if "budget" in r["decision"]] == [
        "+$0 +0 tokens +0 turns +1s"
    ]
    assert [r["decision"] for r in audit if r["user"] == "budget"] == ["ask", "ask"]


PAUSE = """
name: wall-pause
kill_grace: 1s
agents: {w: {}}
phases:
  - id: p
    budget: {seconds: 1s, action: pause}
    tasks:
      - {id: slow, run: "sleep 60"}
"""


@pytest.mark.slow
def test_a_spent_pause_budget_pauses_once_while_its_task_runs_on(pg: Run, tmp_path: Path) -> None:
    # (each tick past the budget paused again: `pause (refused): the run is paused already`
    # audit rows and a `risk high` line every second)
    (tmp_path / "plan.yaml").write_text(PAUSE)
    assert pg("run", "plan.yaml", "--detach").returncode == 0
    until("the pause", lambda: show_last(pg)["status"] == "paused")

    began = float(show_last(pg)["tasks"][0]["started_at"])  # type: ignore[index]
    # the engine checks wall-time budgets every second: three more checks while it is paused
    until("three more ticks", lambda: time.time() - began >= 4.0)
    audit = json.loads(pg("audit", "last", "--json").stdout)["audit"]
    assert [(r["decision"], r["accepted"]) for r in audit if r["user"] == "budget"] == [
        ("pause", True)
    ]
    assert pg("cancel", "last").returncode == 0
    until("the run to end", lambda: show_last(pg)["status"] == "cancelled", seconds=30)
