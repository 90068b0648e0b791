"""What the forecast's tests share: a plan written and loaded, a run of it just started, and two
small plans (a chain beside a lone task; two phases with a manual gate between)."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.model.state import RunState
from phasegate.engine.plan import load_plan
from phasegate.engine.plan.model import Plan

from .helpers import write_plan


def plan_of(tmp_path: Path, text: str) -> Plan:
    return load_plan(str(write_plan(tmp_path, text)))


def started(plan: Plan, estimates: dict[str, float] | None = None) -> RunState:
    """A run of `plan` that has just started (each task's estimate from `estimates` if given,
    as the runner puts the medians of history there)."""
    estimates = estimates or {}
    tasks = [
        {
            "id": t.id,
            "phase": p.id,
            "agent": t.agent,
            "capability": t.capability,
            "needs": list(t.needs),
            "estimate": estimates.get(t.id, t.estimate),
            "priority": t.priority,
        }
        for p in plan.phases
        for t in p.tasks
    ]
    phases = [{"id": p.id, "timebox": p.timebox} for p in plan.phases]
    agents = [{"id": a, "slots": spec.slots} for a, spec in plan.agents.items()]
    gates = [{"id": g.id, "after": g.after, "approval": g.approval} for g in plan.gates]
    return project(
        [
            ev.RunStarted(0.0, "r", plan.name, "p.yaml", phases, tasks, agents, gates=gates),
            ev.PhaseStarted(0.0, plan.phases[0].id),
        ]
    )


CHAIN = """
name: chain
agents: {a: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: a, run: "true", agent: a, estimate: 10}
      - {id: b, run: "true", agent: a, estimate: 5, needs: [a]}
      - {id: c, run: "true", agent: a, estimate: 1}
"""


GATED = """
name: gated
agents: {a: {slots: 1}}
phases:
  - id: build
    tasks: [{id: x, run: "true", agent: a, estimate: 10}]
  - id: ship
    tasks: [{id: y, run: "true", agent: a, estimate: 5}]
gates:
  - {id: review, after: build, approval: manual}
"""
