"""Plans: the YAML format, its model, loading with line marks, validation that collects, and
what is derived from a plan once: its graph (`dag`) and the placement of ready tasks
(`scheduler`), which the run loop and the simulation share.

May import phasegate.engine.model only.

The names below are imported when first asked for: a module that needs only a light part of
this package (`template`, `dag`) does not pay for the plan model (its classes and
the YAML reader), which the dashboard, for one, never builds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model.lazy import lazy_names

if TYPE_CHECKING:
    from phasegate.engine.plan.load import load_plan as load_plan
    from phasegate.engine.plan.load import validate_file as validate_file
    from phasegate.engine.plan.model import Agent as Agent
    from phasegate.engine.plan.model import Gate as Gate
    from phasegate.engine.plan.model import Phase as Phase
    from phasegate.engine.plan.model import Plan as Plan
    from phasegate.engine.plan.model import Task as Task

_WHERE = {
    "Agent": "phasegate.engine.plan.model",
    "Gate": "phasegate.engine.plan.model",
    "Phase": "phasegate.engine.plan.model",
    "Plan": "phasegate.engine.plan.model",
    "Task": "phasegate.engine.plan.model",
    "load_plan": "phasegate.engine.plan.load",
    "validate_file": "phasegate.engine.plan.load",
}

__all__ = sorted(_WHERE)
__getattr__ = lazy_names(_WHERE, globals())
