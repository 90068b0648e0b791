"""A run's monitoring (engine/run/monitoring.py) on a fake clock: the fold of a run just started
stands for the loop, commands are recorded and done, no process runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import RunStatus
from phasegate.engine.plan.dag import build
from phasegate.engine.plan.model import Plan
from phasegate.engine.run.monitoring import Monitoring

from .forecasting import plan_of, started


class FakeHost:
    def __init__(self, plan: Plan, state: RunState) -> None:
        self.plan, self.state = plan, state
        self.clock = 0.0
        self.events: list[ev.Event] = []

    def emit(self, event: ev.Event) -> None:
        apply(self.state, event)
        self.events.append(event)

    def now(self) -> float:
        return self.clock

    def dispatch(self) -> None:
        pass

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class FakeControl:
    """Does what a risk's action asks to the fold, as the run would (pause, resume, slots)."""

    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.done: list[tuple[cmd.Command, str]] = []

    def handle(self, c: cmd.Command, by: str) -> tuple[bool, str]:
        self.done.append((c, by))
        h = self.host
        if isinstance(c, cmd.Slots):
            h.emit(ev.AgentSlotsChanged(h.clock, c.agent, c.slots, by))
        elif isinstance(c, cmd.Pause) and not c.phase:
            if h.state.status is RunStatus.PAUSED:
                return False, "the run is paused already"
            h.emit(ev.RunPaused(h.clock, by, c.reason, ask=c.ask))
        elif isinstance(c, cmd.Resume) and not c.phase:
            if h.state.status is not RunStatus.PAUSED:
                return False, "the run is not paused"
            h.emit(ev.RunResumed(h.clock, by))
        return True, f"{c.kind.value} done"


def monitored(
    tmp_path: Path, text: str, estimates: dict[str, float] | None = None
) -> tuple[Monitoring, FakeHost, FakeControl]:
    plan = plan_of(tmp_path, text)
    host = FakeHost(plan, started(plan, estimates))
    control = FakeControl(host)
    output = SimpleNamespace(last_output={}, last_line={})
    attempts = SimpleNamespace(worktrees=None, output=output)
    fallbacks = SimpleNamespace(standing_by=set)
    graph = build(plan)
    m = Monitoring(host, graph, None, attempts, fallbacks, control, str(tmp_path))  # type: ignore[arg-type]
    m.output = output  # type: ignore[attr-defined]  # (a test makes a task print: last_output)
    return m, host, control
