"""Regression: two silent tasks under `silent_agent: ask`: the second risk's question was
refused ("the run is paused already") and lost, and once the first task printed again the run
resumed while the second was still silent. One question at a time: the next is asked as the
first is withdrawn, and the run resumes once no risk that asks holds."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import RunStatus

from .monitored import monitored

PLAN = """
name: quiet
agents: {w: {slots: 2}}
risks: {cpu: 0, memory: 0, disk: 0, silent_after: 2s, actions: {silent_agent: ask}}
phases:
  - id: p
    tasks:
      - {id: t1, run: "true", agent: w, estimate: 60}
      - {id: t2, run: "true", agent: w, estimate: 60}
"""


def test_a_second_risk_that_asks_is_asked_once_the_first_is_withdrawn(tmp_path: Path) -> None:
    m, host, _ = monitored(tmp_path, PLAN)
    printed = m.output.last_output  # type: ignore[attr-defined]
    host.emit(ev.TaskStarted(0.0, "t1", 1, "w", 1, 1))
    host.emit(ev.TaskStarted(0.0, "t2", 1, "w", 2, 2))
    m.tick(3.0, 2)  # both silent for 3 s
    first = host.state.question["risk"]
    second = ({"silent:t1", "silent:t2"} - {first}).pop()
    done = host.of(ev.CommandDone)
    assert [d.ok for d in done] == [True, True]  # (the second not refused: it waits its turn)
    assert f"risk {second}'s is asked next" in done[-1].message
    printed[first.removeprefix("silent:")] = 3.5  # the first task prints again
    m.tick(4.0, 3)
    assert not host.state.risks[first].open and host.state.risks[second].open
    assert host.state.status is RunStatus.PAUSED  # not resumed: the second still holds
    assert host.state.question["risk"] == second
    assert host.state.question["by"] == "risk:silent_agent"
    printed[second.removeprefix("silent:")] = 4.5  # and the second
    m.tick(5.0, 4)
    assert host.state.status is RunStatus.RUNNING and host.state.question == {}


def test_the_next_question_is_asked_when_a_person_answers_the_first(tmp_path: Path) -> None:
    # regression: the waiting question was asked only when the first risk cleared; a person's
    # resume (the first question answered) lost it for good
    from phasegate.engine.model import commands as cmd

    m, host, _ = monitored(tmp_path, PLAN)
    host.emit(ev.TaskStarted(0.0, "t1", 1, "w", 1, 1))
    host.emit(ev.TaskStarted(0.0, "t2", 1, "w", 2, 2))
    m.tick(3.0, 2)  # both silent: one asks, the other waits its turn
    first = host.state.question["risk"]
    second = ({"silent:t1", "silent:t2"} - {first}).pop()
    ok, said = m._control.handle(cmd.Resume(), "alice")  # type: ignore[attr-defined]
    assert ok, said
    assert host.state.status is RunStatus.RUNNING
    m.tick(4.0, 3)  # both still silent: the second's question now
    assert host.state.status is RunStatus.PAUSED and host.state.question["risk"] == second
    ok, said = m._control.handle(cmd.Resume(), "alice")  # type: ignore[attr-defined]
    m.tick(5.0, 4)
    assert host.state.status is RunStatus.RUNNING  # (each asked once)
