"""Regression: the run's first CPU sample measured nothing real (psutil's first reading covers
the time since its import: 50%, 66.7%, 100%...), so half of all runs raised "CPU at 100%" a
second in, and a plan with `machine_pressure: pause` paused at its start; and a process of the
run that had no measure yet was said to be idle ("nothing of the run's is slowed")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from phasegate.engine.watch.pressure import Consumer, consumers, cpu_finding

from .monitored import monitored

PLAN = """
name: pressed
agents: {w: {slots: 1}}
risks: {cpu: 90, memory: 0, disk: 0, actions: {machine_pressure: pause}}
phases:
  - id: p
    tasks: [{id: a, run: "true", agent: w, estimate: 60}]
"""


def test_the_first_sample_judges_no_cpu_and_the_next_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 100.0)
    m, host, control = monitored(tmp_path, PLAN)
    m.tick(1.0, 1)  # the run's first tick: its first sample (what it reads measures nothing)
    assert "pressure:cpu" not in host.state.risks and control.done == []
    for tick in range(2, 7):  # the next sample, 5 s later: a real interval
        m.tick(float(tick), tick)
    assert host.state.risks["pressure:cpu"].open
    assert [by for _, by in control.done] == ["risk:machine_pressure"]  # (its action: pause)


def test_a_process_of_the_run_with_no_measure_yet_is_not_said_to_be_idle() -> None:
    consumers()  # (a sample: the processes it saw are measured at the next)
    child = subprocess.Popen(["sleep", "30"])
    try:
        mine = [c for c in consumers() if c.pid == child.pid]
        assert mine and mine[0].ours and not mine[0].measured  # new since the last sample
    finally:
        child.kill()
        child.wait()
    other = Consumer(4242, "stress-ng", 198.0, ours=False)
    new = Consumer(child.pid, "sleep", 0.0, ours=True, measured=False)
    risk = cpu_finding(100.0, 95, [other, new])
    assert "nothing of the run's is slowed" not in risk.action
    assert "not measured yet" in risk.action and risk.evidence["run_unmeasured"] == 1
    assert "top: stress-ng" in risk.message
    idle = cpu_finding(100.0, 95, [other, Consumer(5000, "sleep", 0.0, ours=True)])
    assert idle.severity == "medium" and "nothing of the run's is slowed" in idle.action
