"""Watching a run: risk rules, monitors, machine pressure, the forecast and the schedule
simulation, contingency actions, and the estimates learned from earlier runs.

Pure computations over the fold and the plan; may import model, plan, store (history) and exec
(a monitor's command).
"""
