"""Plans: the YAML format, its model, loading with line marks, validation that collects, and
what is derived from a plan once: its graph (`dag`) and the placement of ready tasks
(`scheduler`), which the run loop and the simulation share.

May import phasegate.engine.model only."""

from phasegate.engine.plan.load import load_plan, validate_file
from phasegate.engine.plan.model import Agent, Gate, Phase, Plan, Task

__all__ = ["Agent", "Gate", "Phase", "Plan", "Task", "load_plan", "validate_file"]
