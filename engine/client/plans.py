"""Plans for front ends: load and validate one, its JSON Schema, and what a dry run needs (the
simulated schedule, estimates learned from earlier runs, who stands in for whom)."""

from __future__ import annotations

from phasegate.engine.exec.executors import check_hosts as check_hosts
from phasegate.engine.plan import load_plan as load_plan
from phasegate.engine.plan import validate_file as validate_file
from phasegate.engine.plan.amend import change_lines as change_lines
from phasegate.engine.plan.fallbacks import fallbacks as fallbacks
from phasegate.engine.plan.fallbacks import risk_fallbacks as risk_fallbacks
from phasegate.engine.plan.load import plan_from_text as plan_from_text
from phasegate.engine.plan.load import read_text as read_text
from phasegate.engine.plan.model import Plan as Plan
from phasegate.engine.plan.model import json_schema as json_schema
from phasegate.engine.watch.forecast import seconds_left as seconds_left
from phasegate.engine.watch.history import Learned as Learned
from phasegate.engine.watch.history import gate_key as gate_key
from phasegate.engine.watch.history import gate_waits as gate_waits
from phasegate.engine.watch.history import learned as learned
from phasegate.engine.watch.impact import impact_lines as impact_lines
from phasegate.engine.watch.simulate import Schedule as Schedule
from phasegate.engine.watch.simulate import projected as projected
from phasegate.engine.watch.simulate import simulate as simulate
