"""Plans: the YAML format, its model, loading with line marks, and validation that collects."""

from .load import load_plan, validate_file
from .model import Agent, Gate, Phase, Plan, Task

__all__ = ["Agent", "Gate", "Phase", "Plan", "Task", "load_plan", "validate_file"]
