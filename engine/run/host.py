"""What the parts of a run need of the loop that holds them: the plan, the fold, a way to record
an event, the clock, and a nudge to start whatever can start. Each part takes a `Host` (and the
sibling parts it works with) instead of being mixed into the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from phasegate.engine.model import events as ev
    from phasegate.engine.model.state import RunState
    from phasegate.engine.plan.model import Plan


class Host(Protocol):
    """The run loop, as its parts see it."""

    plan: Plan
    state: RunState  # the fold: the only run state (replaced as a whole by a take-over)

    def emit(self, event: ev.Event) -> None:
        """Fold the event into `state`, append it to the store, tell the listeners."""
        ...

    def now(self) -> float: ...

    def dispatch(self) -> None:
        """Start as many ready tasks as slots and resources allow (unless paused)."""
        ...
