"""Regression: a risk raised once kept its first severity and message for good, as long as it
held: a task at three times its estimate still a `medium` risk "running 2.0s" (a gate's
`no_risks: high` passed it), a gate that had waited 17 s "has waited 1.0s". A risk is said again
when its severity changes, or when a duration it tells has doubled (not at every tick), and its
rule's action is not taken a second time."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev

from .monitored import monitored

OVERRUN = """
name: grow
agents: {w: {slots: 1}}
risks: {cpu: 0, memory: 0, disk: 0, actions: {task_overrun: pause}}
phases:
  - id: p
    tasks: [{id: slow, run: "true", agent: w, estimate: 1.5}]
"""


def test_a_risk_whose_severity_rises_is_raised_again_at_it(tmp_path: Path) -> None:
    m, host, control = monitored(tmp_path, OVERRUN)
    host.emit(ev.TaskStarted(100.0, "slow", 1, "w", 1, 1))
    m.tick(102.0, 2)
    risk = host.state.risks["overrun:slow"]
    assert (risk.severity.value, risk.message) == (
        "medium",
        "running 2.0s, past its estimate of 1.5s",
    )
    m.tick(103.5, 3)  # past twice its estimate: high, by the rule
    risk = host.state.risks["overrun:slow"]
    assert risk.open and risk.severity.value == "high"
    assert risk.message.startswith("running 3.5s")
    assert [by for _, by in control.done] == ["risk:task_overrun"]  # (paused once, not again)
    raised = [e.severity for e in host.of(ev.RiskRaised)]
    assert raised == ["medium", "high"]
    m.tick(104.0, 4)  # nothing new to say
    assert len(host.of(ev.RiskRaised)) == 2


GATE = """
name: gated
agents: {w: {slots: 1}}
risks: {cpu: 0, memory: 0, disk: 0, gate_wait: 1s}
phases:
  - {id: one, tasks: [{id: a, run: "true", agent: w, estimate: 1}]}
  - {id: two, tasks: [{id: b, run: "true", agent: w, estimate: 1}]}
gates:
  - {id: review, after: one, approval: manual}
"""


def test_a_waiting_gate_s_risk_tells_its_wait_at_coarse_steps(tmp_path: Path) -> None:
    m, host, _ = monitored(tmp_path, GATE)
    host.emit(ev.TaskStarted(90.0, "a", 1, "w", 1, 1))
    host.emit(ev.TaskFinished(91.0, "a", 1, "succeeded", 0))
    host.emit(ev.GateOpened(100.0, "review", 1, [], "", "manual"))
    for second in range(1, 61):
        m.tick(100.0 + second, second + 1)
    said = [e.message for e in host.of(ev.RiskRaised)]
    # after a minute, not "has waited 2.0s"; said again at each doubling, not each second
    assert said[-1].startswith("has waited 32.0s"), said
    assert len(said) == 5, said  # at 2, 4, 8, 16 and 32 s


def test_only_a_growing_duration_doubled_says_a_risk_again() -> None:
    # regression: every `*_s` of the evidence counted, a negative slack too: a gate wait whose
    # slack went from -30 s to -28.5 s was said again at each tick
    from phasegate.engine.model.state import RiskState
    from phasegate.engine.model.statuses import Severity
    from phasegate.engine.watch.risks import Finding, _outdated

    known = RiskState(
        "gate_wait:g",
        "gate_wait",
        Severity.HIGH,
        "gate g",
        "has waited 40s",
        "",
        1.0,
        None,
        {"waited_s": 40.0, "slack_s": -30.0},
    )
    said = {"waited_s": 41.0, "slack_s": -28.5}
    f = Finding("gate_wait:g", "gate_wait", "high", "gate g", "has waited 41s", "", said)
    assert not _outdated(known, f)
    said = {"waited_s": 81.0, "slack_s": -28.5}
    assert _outdated(
        known, Finding("gate_wait:g", "gate_wait", "high", "gate g", "w 81s", "", said)
    )
