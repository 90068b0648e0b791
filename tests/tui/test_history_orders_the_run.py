"""The engine orders its ready tasks (the longest path first) by the estimates the dry run
uses: history's where there is some. Regression: `phasegate plan` said build first (history: the
plan's 10 s for lint was 0.1 s), and every run started lint first, by the plan's estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Run

PLAN = """
name: order
agents: {w: {slots: 1}, v: {slots: 1}}
phases:
  - id: p
    tasks:
      - {id: lint, agent: w, run: "sleep 0.1", estimate: 10s}
      - {id: build, agent: w, run: "sleep 0.1", estimate: 1s}
      - {id: deploy, agent: v, run: "sleep 0.4", needs: [build], estimate: 1s}
"""


def _first_on_w(pg: Run) -> str:
    shown = json.loads(pg("show", "last", "--json").stdout)
    on_w = [t for t in shown["tasks"] if t["agent"] == "w"]
    return str(min(on_w, key=lambda t: t["started_at"])["id"])


@pytest.mark.slow
def test_a_run_orders_its_tasks_as_the_dry_run_does(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PLAN)
    assert pg("run", "p.yaml", "--headless", "-q").returncode == 0
    assert _first_on_w(pg) == "lint"  # (no history: the plan's 10 s make lint's path longest)
    assert pg("run", "p.yaml", "--headless", "-q").returncode == 0
    dry = pg("plan", "p.yaml", "--json")
    assert dry.returncode == 0, dry.stderr
    on_w = [t for t in json.loads(dry.stdout)["tasks"] if t["agent"] == "w"]
    assert min(on_w, key=lambda t: t["start"])["id"] == "build"  # (what the dry run says)
    assert pg("run", "p.yaml", "--headless", "-q").returncode == 0
    assert _first_on_w(pg) == "build"  # (and the run does: build then deploy is longest)
