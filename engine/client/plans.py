"""Plans for front ends: load and validate one, its JSON Schema, and what a dry run needs (the
simulated schedule, estimates learned from earlier runs, who stands in for whom).

Each name is imported from its module when it is first asked for (`phasegate run` needs only
`load_plan`; the dry run's simulation, the history and the SSH checks would cost its start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model.lazy import lazy_names

if TYPE_CHECKING:
    from phasegate.engine.exec.executors import check_hosts as check_hosts
    from phasegate.engine.plan import load_plan as load_plan
    from phasegate.engine.plan import validate_file as validate_file
    from phasegate.engine.plan.amend_lines import change_lines as change_lines
    from phasegate.engine.plan.fallbacks import fallbacks as fallbacks
    from phasegate.engine.plan.fallbacks import risk_fallbacks as risk_fallbacks
    from phasegate.engine.plan.load import plan_from_text as plan_from_text
    from phasegate.engine.plan.load import read_text as read_text
    from phasegate.engine.plan.model import Plan as Plan
    from phasegate.engine.plan.model import json_schema as json_schema
    from phasegate.engine.run.endings import refuse_outside_outputs as refuse_outside_outputs
    from phasegate.engine.run.gates import refuse_unreachable as refuse_unreachable
    from phasegate.engine.watch.forecast import counted_to as counted_to
    from phasegate.engine.watch.forecast import seconds_left as seconds_left
    from phasegate.engine.watch.forecast import waiting_gate as waiting_gate
    from phasegate.engine.watch.history import Learned as Learned
    from phasegate.engine.watch.history import gate_key as gate_key
    from phasegate.engine.watch.history import gate_waits as gate_waits
    from phasegate.engine.watch.history import learned as learned
    from phasegate.engine.watch.history import retry_extra as retry_extra
    from phasegate.engine.watch.impact import impact_lines as impact_lines
    from phasegate.engine.watch.simulate import Schedule as Schedule
    from phasegate.engine.watch.simulate import projected as projected
    from phasegate.engine.watch.simulate import simulate as simulate

# name -> the module that defines it (the same names as the imports above)
_WHERE = {
    "check_hosts": "phasegate.engine.exec.executors",
    "load_plan": "phasegate.engine.plan",
    "validate_file": "phasegate.engine.plan",
    "change_lines": "phasegate.engine.plan.amend_lines",
    "fallbacks": "phasegate.engine.plan.fallbacks",
    "risk_fallbacks": "phasegate.engine.plan.fallbacks",
    "plan_from_text": "phasegate.engine.plan.load",
    "read_text": "phasegate.engine.plan.load",
    "Plan": "phasegate.engine.plan.model",
    "json_schema": "phasegate.engine.plan.model",
    "refuse_outside_outputs": "phasegate.engine.run.endings",
    "refuse_unreachable": "phasegate.engine.run.gates",
    "counted_to": "phasegate.engine.watch.forecast",
    "seconds_left": "phasegate.engine.watch.forecast",
    "waiting_gate": "phasegate.engine.watch.forecast",
    "Learned": "phasegate.engine.watch.history",
    "gate_key": "phasegate.engine.watch.history",
    "gate_waits": "phasegate.engine.watch.history",
    "learned": "phasegate.engine.watch.history",
    "retry_extra": "phasegate.engine.watch.history",
    "impact_lines": "phasegate.engine.watch.impact",
    "Schedule": "phasegate.engine.watch.simulate",
    "projected": "phasegate.engine.watch.simulate",
    "simulate": "phasegate.engine.watch.simulate",
}

__all__ = sorted(_WHERE)
__getattr__ = lazy_names(_WHERE, globals())
