"""Continuous monitoring, once a tick of the Runner (mixed into it): the forecast, machine
pressure, monitors, the risk rules, and the contingency action of a rule that fires."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.model import events as ev
from engine.plan.model import RuleFallback
from engine.watch.contingency import act
from engine.watch.forecast import forecast
from engine.watch.pressure import EVERY as PRESSURE_EVERY
from engine.watch.pressure import sample as sample_pressure
from engine.watch.risks import Finding, Tuning
from engine.watch.risks import changes as risk_changes
from engine.watch.risks import findings as risk_findings

if TYPE_CHECKING:
    from engine.model.state import RunState
    from engine.plan.dag import Graph
    from engine.plan.model import Plan
    from engine.plan.scheduler import Scheduler
    from engine.watch.history import Learned
    from engine.watch.monitors import Monitors

BIG_RUN = 2000  # tasks: above this many, the forecast is recomputed every FORECAST_EVERY ticks
FORECAST_EVERY = 5


class Watch:
    # provided by the Runner
    plan: Plan
    state: RunState
    _graph: Graph
    _sched: Scheduler
    _learned: dict[str, Learned]
    _gate_waits: dict[str, float]  # gate -> the median of its earlier waits
    _last_forecast: dict[str, float]
    _phase_lengths: dict[tuple[object, ...], float]  # the forecast's cache, for this run
    _last_output: dict[str, float]
    _pressure: list[Finding]
    _monitors: Monitors | None
    _phase: str
    _tuning: Tuning
    _workdir: str

    def emit(self, event: ev.Event) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def control(self, kind: str, args: dict[str, object], by: str) -> tuple[bool, str]:
        raise NotImplementedError

    def _call_fallback(self, tid: str, rule: str) -> tuple[bool, str]:
        raise NotImplementedError

    def _standing_by(self) -> set[str]:
        raise NotImplementedError

    def _watch(self, now: float, tick: int) -> None:
        """One tick while the run goes (`tick` counts from 1)."""
        if len(self.state.tasks) <= BIG_RUN or tick % FORECAST_EVERY == 1:
            self._forecast(now)
        if tick % PRESSURE_EVERY == 1:  # (the first tick too)
            self._pressure = sample_pressure(self.plan.risks, self._workdir)
        if self._monitors is not None:
            self._monitors.tick(self._phase)
        found = risk_findings(self.state, now, self._last_output, self.plan.risks, self._tuning)
        found += self._pressure
        if self._monitors is not None:
            found += self._monitors.findings(self._phase)
        for event in risk_changes(self.state, now, found):
            self.emit(event)
            if isinstance(event, ev.RiskRaised):
                self._contingency(event)

    def _forecast(self, now: float) -> None:
        """Record the forecast when the predicted end of the run or of a phase moved (by 1 s or
        a tenth of what is left): front ends show it, reports state how accurate it was."""
        waits, standby = self._gate_waits, self._standing_by()
        f = forecast(
            self.plan,
            self._graph,
            self.state,
            now,
            self._sched,
            waits,
            standby,
            self._phase_lengths,
        )
        ends = {"": now + f.eta, **{p: now + left for p, left in f.phases.items()}}
        last = self._last_forecast
        if ends.keys() == last.keys() and all(
            abs(last[k] - end) < max(1.0, 0.1 * (end - now)) for k, end in ends.items()
        ):
            return
        self._last_forecast = ends
        phases = {p: round(left, 3) for p, left in f.phases.items()}
        learned = len(self._learned) - len(self._gate_waits)
        self.emit(ev.ForecastUpdated(now, round(f.eta, 3), learned, phases, f.guessed))

    def _contingency(self, raised: ev.RiskRaised) -> None:
        """The plan's action for the rule that fired (risks.actions), as an operator would."""
        action = self.plan.risks.actions.get(raised.rule)  # type: ignore[call-overload]
        if action in (None, "notify"):
            return
        if isinstance(action, RuleFallback):
            kind, results = "fallback", [self._call_fallback(action.fallback, raised.rule)]
        else:
            kind, results = str(action), act(raised, action, self.state, self._phase, self.control)
        for ok, message in results:
            self.emit(ev.CommandDone(self.now(), 0, kind, f"risk:{raised.rule}", ok, message))
