"""Continuous monitoring, once a tick of the run: the forecast, machine pressure, monitors, the
risk rules, and the contingency action of a rule that fires. A part of the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.model.statuses import PhaseStatus, RunStatus, TaskStatus
from phasegate.engine.plan.model import RuleFallback
from phasegate.engine.run.finishing import MAX_BACKOFF
from phasegate.engine.watch.contingency import SERIOUS, act
from phasegate.engine.watch.forecast import forecast
from phasegate.engine.watch.history import tasks_learned
from phasegate.engine.watch.pressure import EVERY as PRESSURE_EVERY
from phasegate.engine.watch.pressure import sample as sample_pressure
from phasegate.engine.watch.risks import Finding, Tuning
from phasegate.engine.watch.risks import changes as risk_changes
from phasegate.engine.watch.risks import findings as risk_findings

if TYPE_CHECKING:
    from phasegate.engine.model.state import RiskState
    from phasegate.engine.plan.dag import Graph
    from phasegate.engine.plan.scheduler import Scheduler
    from phasegate.engine.run.attempts import Attempts
    from phasegate.engine.run.control import OperatorControl
    from phasegate.engine.run.fallbacks import Fallbacks
    from phasegate.engine.run.host import Host
    from phasegate.engine.run.reach import Reach
    from phasegate.engine.watch.history import Learned
    from phasegate.engine.watch.monitors import Monitors

BIG_RUN = 2000  # tasks: above this many, the forecast is recomputed every FORECAST_EVERY ticks
FORECAST_EVERY = 5


class Monitoring:
    def __init__(
        self,
        host: Host,
        graph: Graph,
        sched: Scheduler,
        attempts: Attempts,
        fallbacks: Fallbacks,
        control: OperatorControl,
        workdir: str,
    ) -> None:
        self._host, self._graph, self._sched = host, graph, sched
        self._attempts, self._fallbacks, self._control = attempts, fallbacks, control
        self._workdir = workdir
        self._tuning = Tuning.of(host.plan)  # per-phase and per-task risk thresholds
        self.learned: dict[str, Learned] = {}  # estimates from earlier runs of the plan
        self.gate_waits: dict[str, float] = {}  # gate -> the median of its earlier waits
        self.monitors: Monitors | None = None  # the plan's monitors, while the run goes
        self._last_at = 0.0  # when the last forecast was recorded
        self._last_lefts: dict[str, float] = {}  # its time left to the run's end, each phase's
        self._still = False  # the last forecast said the time left holds
        self._phase_lengths: dict[tuple[object, ...], float] = {}  # phases not started
        self._pressure: list[Finding] = []  # machine pressure at the last sample
        self._cpu_primed = False  # a sample has started psutil's CPU counters
        self._holding: set[str] = set()  # the risks that hold at this tick
        self._deferred: list[str] = []  # risks whose question waits for another's, in order
        self.reach: Reach | None = None  # agents' hosts over SSH (a plan that has some)
        # risk -> the slots its reduce_slots left each agent (a risk acted on, once)
        self._reduced: dict[str, dict[str, int]] = {}

    def _phase(self) -> str:
        """The phase the run has reached (under way, or ended with its gates deciding), from
        the fold."""
        reached = [
            p
            for p in self._host.state.phases.values()
            if p.started_at is not None and p.status is not PhaseStatus.PENDING
        ]
        return max(reached, key=lambda p: p.started_at or 0.0).id if reached else ""

    def tick(self, now: float, tick: int) -> None:
        """One tick while the run goes (`tick` counts from 1)."""
        host, phase = self._host, self._phase()
        if len(host.state.tasks) <= BIG_RUN or tick % FORECAST_EVERY == 1:
            self._forecast(now)
        if tick % PRESSURE_EVERY == 1:  # (the first tick too)
            trees = self._attempts.worktrees
            root = trees.root if trees is not None else ""
            # (the first sample starts the CPU's counters: judged from the next, 5 s later)
            rules = host.plan.risks
            self._pressure = sample_pressure(rules, self._workdir, root, self._cpu_primed)
            self._cpu_primed = True
        if self.monitors is not None:
            self.monitors.tick(phase)
        if self.reach is not None:
            self.reach.tick(tick)
        found = self._found(now, phase)
        self._holding = {f.key for f in found}
        for event in risk_changes(host.state, now, found):
            known = host.state.risks.get(event.key) if isinstance(event, ev.RiskRaised) else None
            again = known is not None and known.open  # (said again: its action was taken)
            host.emit(event)
            if isinstance(event, ev.RiskRaised) and not again:
                self._contingency(event, phase)
            elif isinstance(event, ev.RiskCleared):
                self._withdraw(event)
        self._ask_deferred(phase)
        actions = host.plan.risks.actions
        for f in found:  # a risk raised as medium that has grown serious: reduce_slots acts now
            risk = host.state.risks.get(f.key)
            if (
                f.severity in SERIOUS
                and f.key not in self._reduced
                and actions.get(f.rule) == "reduce_slots"  # type: ignore[call-overload]
                and risk is not None
                and risk.open
            ):
                grown = ev.RiskRaised(now, f.key, f.rule, f.severity, f.subject, f.message)
                self._contingency(grown, phase)

    def settle(self, now: float) -> None:
        """As the run ends: clear the risks that no longer hold (a task past its estimate that
        has ended since the last tick stayed open for good), raising none and acting on none.
        The machine's pressure (CPU, memory, disk) no longer concerns a run whose work has
        ended: its risks are cleared too, or they stayed open in `risks` and the reports."""
        host = self._host
        self._pressure = []
        for event in risk_changes(host.state, now, self._found(now, self._phase())):
            if isinstance(event, ev.RiskCleared):
                host.emit(event)

    def _found(self, now: float, phase: str) -> list[Finding]:
        """Every risk that holds now: the rules over the run's state, the machine's pressure
        (as last sampled), the agents' hosts and the plan's monitors."""
        host = self._host
        output = self._attempts.output
        found = risk_findings(
            host.state, now, output.last_output, host.plan.risks, self._tuning, output.last_line
        )
        found += self._pressure
        if self.reach is not None:
            found += self.reach.findings()
        if self.monitors is not None:
            action = host.plan.risks.actions.get("monitor")
            found += self.monitors.findings(phase, goes_on=action not in ("pause", "ask"))
        return found

    def _forecast(self, now: float) -> None:
        """Record the forecast when the predicted end of the run or of a phase moved (by 1 s or
        a tenth of what is left): front ends show it, reports state how accurate it was."""
        host = self._host
        waits, standby = self.gate_waits, self._fallbacks.standing_by()
        f = forecast(
            host.plan,
            self._graph,
            host.state,
            now,
            self._sched,
            waits,
            standby,
            self._phase_lengths,
            self._retry_waits(now),
        )
        lefts = {"": f.eta, **f.phases}
        last = self._last_lefts
        if lefts.keys() == last.keys():
            # only the clock moves (a gate without history waits, the run is paused, a phase is
            # held): the same time left. Said once, as `still`, so that front ends hold it
            # instead of counting down; then nothing until it moves (it was one event a second)
            still = all(abs(last[k] - left) < 0.05 for k, left in lefts.items())
            if still and self._still:
                return
            # else: only when a predicted end moved by 1 s or a tenth of what is left
            waited = now - self._last_at
            moved = any(
                abs(waited + left - last[k]) >= max(1.0, 0.1 * left) for k, left in lefts.items()
            )
            # (after a `still` one, front ends hold its time left: a countdown is told, once)
            if not still and not moved and not self._still:
                return
        else:
            still = False
        self._last_at, self._last_lefts, self._still = now, lefts, still
        phases = {p: round(left, 3) for p, left in f.phases.items()}
        learned = tasks_learned(self.learned)
        host.emit(ev.ForecastUpdated(now, round(f.eta, 3), learned, phases, f.guessed, still))

    def _retry_waits(self, now: float) -> dict[str, float]:
        """task -> the seconds its next attempt still waits for: the backoff after a failure,
        as run/attempts.py counts it (doubled at each failed attempt), from its end."""
        host = self._host
        waiting = [
            t
            for t in host.state.tasks.values()
            if t.status is TaskStatus.READY and t.failures and t.finished_at is not None
        ]
        if not waiting:
            return {}
        backoff = {t.id: t.backoff for _, t in host.plan.tasks()}
        out = {}
        for t in waiting:
            delay = min(backoff.get(t.id, 0.0) * 2 ** (t.attempts - 1), MAX_BACKOFF)
            left = delay - (now - (t.finished_at or now))
            if left > 0:
                out[t.id] = left
        return out

    def _contingency(self, raised: ev.RiskRaised, phase: str) -> None:
        """The plan's action for the rule that fired (risks.actions), as an operator would."""
        host = self._host
        action = host.plan.risks.actions.get(raised.rule)  # type: ignore[call-overload]
        if action in (None, "notify"):
            return
        by = f"risk:{raised.rule}"
        asked = host.state.question.get("risk")
        if action == "ask" and asked and host.state.status is RunStatus.PAUSED:
            # (one question at a time: this one is asked once that one is withdrawn, if it
            # still holds then; refused, it was lost for good)
            message = (
                f"the run waits already on risk {asked}'s question: risk {raised.key}'s is "
                "asked next if it still holds"
            )
            host.emit(ev.CommandDone(host.now(), 0, "ask", by, True, message))
            if raised.key not in self._deferred:
                self._deferred.append(raised.key)
            return
        if isinstance(action, RuleFallback):
            kind, results = "fallback", [self._fallbacks.call(action.fallback, raised.rule)]
        else:
            commands = act(raised, action, host.state, phase)
            kind, results = str(action), [self._control.handle(c, by) for c in commands]
            if action == "reduce_slots" and raised.severity in SERIOUS:  # (acted on, once)
                taken = [c for c, (done, _) in zip(commands, results, strict=True) if done]
                self._reduced[raised.key] = {
                    c.agent: c.slots for c in taken if isinstance(c, cmd.Slots)
                }
        for ok, message in results:
            host.emit(ev.CommandDone(host.now(), 0, kind, by, ok, message))

    def _ask_deferred(self, phase: str) -> None:
        """A question that waited for another's is asked once the run goes again (a person
        answered that one), if its risk still holds."""
        host = self._host
        self._deferred = [k for k in self._deferred if k in self._holding]
        if not self._deferred or host.state.status is not RunStatus.RUNNING:
            return
        risk = host.state.risks.get(self._deferred.pop(0))
        if risk is None or not risk.open:
            return
        raised = ev.RiskRaised(
            host.now(), risk.key, risk.rule, risk.severity.value, risk.subject, risk.message
        )
        self._contingency(raised, phase)

    def _asking(self, other_than: str) -> RiskState | None:
        """The open risk, the earliest raised, whose rule asks (`ask`), but `other_than` (and one
        this tick clears)."""
        actions = self._host.plan.risks.actions
        risks = self._host.state.risks.values()
        open_ = [r for r in risks if r.open and r.key != other_than and r.key in self._holding]
        asking = [r for r in open_ if actions.get(r.rule) == "ask"]  # type: ignore[call-overload]
        return min(asking, key=lambda r: r.raised_at, default=None)

    def _ask_next(self, risk: RiskState, withdrawn: str) -> None:
        """The run stays paused, with `risk`'s question in place of `withdrawn`'s."""
        host, by = self._host, f"risk:{risk.rule}"
        if risk.key in self._deferred:  # (asked now)
            self._deferred.remove(risk.key)
        now, severity = host.now(), risk.severity.value
        raised = ev.RiskRaised(now, risk.key, risk.rule, severity, risk.subject, risk.message)
        for c in act(raised, "ask", host.state, self._phase()):
            if isinstance(c, cmd.Pause):  # (the run is paused: its question changes)
                host.emit(ev.RunPaused(now, by, c.reason, ask=c.ask))
        message = f"risk {withdrawn} no longer holds, its question withdrawn; risk {risk.key} asks"
        host.emit(ev.CommandDone(now, 0, "ask", by, True, message))

    def _withdraw(self, cleared: ev.RiskCleared) -> None:
        """A risk whose rule asked (`ask`) no longer holds: its question is withdrawn and the
        pause it made is lifted, as the rule's own command (a pause an operator made, or a
        question another risk asked, stays; another open risk whose rule asks puts its question
        then, and the run stays paused). One whose rule took slots gives them back to
        each agent still at what it left (one an operator set since keeps it)."""
        host = self._host
        risk = host.state.risks.get(cleared.key)
        by = f"risk:{risk.rule if risk is not None else cleared.key}"
        for agent, slots in self._reduced.pop(cleared.key, {}).items():
            now = host.state.agents.get(agent)
            if now is None or now.slots != slots:
                continue
            ok, message = self._control.handle(cmd.Slots(agent, slots + 1), by)
            if ok:
                message = f"{message}: risk {cleared.key} no longer holds, its slot given back"
            host.emit(ev.CommandDone(host.now(), 0, "slots", by, ok, message))
        question = host.state.question
        if question.get("risk") != cleared.key or host.state.status is not RunStatus.PAUSED:
            return
        waiting = self._asking(cleared.key)
        if waiting is not None:  # another risk that asks still holds: its question, not a resume
            self._ask_next(waiting, cleared.key)
            return
        by = str(question.get("by") or "engine")
        ok, message = self._control.handle(cmd.Resume(), by)
        if ok:
            message = f"{message}: risk {cleared.key} no longer holds, its question withdrawn"
        host.emit(ev.CommandDone(host.now(), 0, "resume", by, ok, message))
