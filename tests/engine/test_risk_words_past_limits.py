"""Regression: risks past a limit quoted the limit as the value ("over its timebox: 3.0s of
3.0s", "has waited 1.0s ... more than the run's slack (1.0s)"), and a monitor's risk said "the
run goes on" while the plan's `monitor: pause` had paused its phase."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.watch.monitors import Monitors
from phasegate.engine.watch.risks import findings

from .monitored import monitored

PLAN = """
name: limits
agents: {w: {slots: 1}}
risks: {cpu: 0, memory: 0, disk: 0, gate_wait: 1s, actions: {monitor: pause}}
monitors:
  - {id: hot, run: "echo 95", every: 1s, max: 90}
phases:
  - id: one
    timebox: 3s
    tasks: [{id: a, run: "true", agent: w, estimate: 1}]
  - id: two
    timebox: 2s
    tasks: [{id: b, run: "true", agent: w, estimate: 1}]
gates:
  - {id: review, after: one, approval: manual}
"""


def test_a_value_past_its_limit_is_never_said_as_the_limit(tmp_path: Path) -> None:
    _, host, _ = monitored(tmp_path, PLAN)
    rules = host.plan.risks
    (over,) = [f for f in findings(host.state, 3.04, {}, rules) if f.rule == "phase_timebox"]
    assert over.message == "over its timebox: 3.04s of 3.0s"
    host.emit(ev.TaskStarted(0.0, "a", 1, "w", 1, 1))
    host.emit(ev.TaskFinished(0.5, "a", 1, "succeeded", 0))
    host.emit(ev.PhaseFinished(0.5, "one", "succeeded"))
    host.emit(ev.GateOpened(10.0, "review", 1, [], "", "manual"))
    # the run's slack: phase two's 2 s timebox less its 1 s of work
    (waited,) = [f for f in findings(host.state, 11.04, {}, rules) if f.rule == "gate_wait"]
    assert waited.message.startswith("has waited 1.04s for a decision, more than the run's")
    assert "slack (1.0s)" in waited.message


async def test_a_monitors_risk_says_the_run_goes_on_only_when_it_does(tmp_path: Path) -> None:
    m, host, control = monitored(tmp_path, PLAN)
    monitors = Monitors(Monitors.of(host.plan), str(tmp_path), {}, {}, host.now)
    m.monitors = monitors
    try:
        monitors.tick("one")
        while monitors._busy:  # (the check runs: `echo 95`)
            await next(iter(monitors._busy.values()))
        m.tick(1.0, 2)
    finally:
        await monitors.close()
    risk = host.state.risks["monitor:hot"]
    assert risk.message == "95, wanted <= 90"
    assert "goes on" not in risk.action  # its phase is paused, by the plan's action
    assert [(type(c).__name__, by) for c, by in control.done] == [("Pause", "risk:monitor")]
    plain = monitors.findings("one")  # (the plan's `notify`: the run goes on)
    assert [f.action for f in plain] == ["look at what `echo 95` checks; the run goes on"]
