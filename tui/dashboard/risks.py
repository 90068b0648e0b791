"""Risk items for the feed: what the risk rules raised (each marked once it clears), and the
failures, retries, blocked tasks, agents not ready, failed checks and refused gates of the
run."""

from __future__ import annotations

import time
from dataclasses import dataclass

from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import SEVERITIES

MAX_RISKS = 1000  # risks a feed keeps, the newest (a flapping rule can raise thousands)


@dataclass(frozen=True, slots=True)
class Risk:
    ts: float
    severity: str
    subject: str
    message: str
    key: str = ""  # a risk rule's (its RiskRaised key): it clears; the others are facts

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity)

    def cleared(self, state: RunState) -> str | None:
        """None while it holds; once cleared, when (`HH:MM:SS`, or "" when the rule has raised
        it again since, and only the newest time is known). A row of a risk said again while it
        held (grown) is newer than the time it was first raised: it holds with it."""
        held = state.risks.get(self.key) if self.key else None
        if held is None:
            return None
        if self.ts < held.raised_at:
            return ""  # (raised again since: this one cleared before)
        if held.cleared_at is None:
            return None
        return time.strftime("%H:%M:%S", time.localtime(held.cleared_at))


# the event types risk_of makes a risk of (what the feed reads of a run's past, before a snapshot)
RISK_EVENTS = tuple(
    cls.type
    for cls in (
        ev.TaskFinished,
        ev.TaskRetrying,
        ev.TaskBlocked,
        ev.AgentProbed,
        ev.CheckFinished,
        ev.RiskRaised,
        ev.GateClosed,
        ev.GateRefused,
        ev.RunFinished,
    )
)


def risk_of(event: ev.Event, state: RunState) -> Risk | None:
    match event:
        case ev.TaskFinished(status="failed" | "timed_out"):
            return Risk(event.ts, "high", f"task {event.task}", event.reason or event.status)
        case ev.TaskRetrying():
            when = f" in {event.delay:g}s" if event.delay else ""
            why = f" ({event.reason})" if event.reason else ""  # (`retry asked by bob`)
            return Risk(
                event.ts,
                "medium",
                f"task {event.task}",
                f"retrying as attempt {event.attempt}{when}{why}",
            )
        case ev.TaskBlocked():
            return Risk(event.ts, "medium", f"task {event.task}", f"blocked: {event.reason}")
        case ev.AgentProbed(ready=False):
            return Risk(event.ts, "high", f"agent {event.agent}", f"not ready: {event.detail}")
        case ev.CheckFinished(passed=False):
            return Risk(event.ts, "high", f"check {event.name}", event.detail)
        case ev.RiskRaised():
            return Risk(
                event.ts,
                event.severity,
                event.subject,
                f"{event.message} → {event.action}",
                event.key,
            )
        case ev.GateClosed(outcome="rejected" | "failed"):
            return Risk(event.ts, "high", f"gate {event.gate}", f"{event.outcome}: {event.reason}")
        case ev.GateRefused() if event.gate in state.gates:
            # (a decision the gate's policy refused: someone tried; a gate the run lacks, a typo
            # told to its sender, is no risk to the run)
            return Risk(event.ts, "low", f"gate {event.gate}", f"{event.user}: {event.why}")
        case ev.RunFinished(status="failed"):
            return Risk(event.ts, "critical", "run", event.reason or "the run failed")
    return None
