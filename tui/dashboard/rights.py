"""What the person at a dashboard may do on its run, as the engine's policy says: the dashboard
offers only that (its footer, its palette, its quit dialog). Only the engine decides; this
chooses what to offer."""

from __future__ import annotations

import os

# (the engine's own rule, through the client's policy module: the layers contract keeps the
# front ends out of engine/run)
from phasegate.engine.client.policy import may_operate
from phasegate.engine.model.state import RunState

# what only those who may operate the run can do (engine/run/roles.py): the engine refuses the
# others', and every attached dashboard heard of the refusal
OPERATING = frozenset(
    {
        "pause",
        "resume_run",
        "skip",
        "cancel_task",
        "retry",
        "priority",
        "slots",
        "hold_phase",
        "amend",
        "note",
        "take_over",  # (resuming a run whose engine died: its starter's, or an operator's)
    }
)


def may_steer(state: RunState, viewer: str) -> bool:
    """May `viewer` operate the run (its starter, the plan's roles.operators)? A run that does
    not name its starter (recorded without it) cannot tell: everything is offered, and the
    engine decides."""
    return not state.user or bool(may_operate(state, viewer))


def may_note(state: RunState, viewer: str, db_path: str) -> bool:
    """May `viewer` add a note? Those who may operate the run; once it has ended the note is
    written by the dashboard itself, into a database that only the engine's user may write
    (a shared run's is read-only to the group)."""
    if not may_steer(state, viewer):
        return False
    return state.finished_at is None or os.access(db_path, os.W_OK)
