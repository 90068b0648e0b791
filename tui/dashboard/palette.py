"""The dashboard's commands in the command palette (ctrl+p): one list, read by the app to offer
them and by the help screen to list them (two of them have no key of their own)."""

from __future__ import annotations

# (name shown in the palette, what it does, the DashboardScreen action it runs)
DASHBOARD_COMMANDS: list[tuple[str, str, str]] = [
    ("Filter tasks", "Filter by id, phase, agent or status", "filter"),
    ("Sort tasks", "Cycle the task order", "sort"),
    ("Show output", "Output of the selected task", "logs"),
    ("Retry task", "Run the selected task again as a new attempt", "retry"),
    ("Agent slots", "Change how many tasks an agent runs at once", "slots"),
    ("Pause or resume a phase", "Hold one phase's tasks (or let them go on)", "hold_phase"),
    ("Amend the plan", "Edit the run's plan in $EDITOR; a change gate decides it", "amend"),
    ("Give feedback", "Answer the run's feedback questions (while they are asked)", "feedback"),
    ("Research answers", "Each research query's answers or its error", "research"),
    ("Detach", "Close the dashboard, leave the run going", "detach"),
    ("Quit phasegate", "Leave the dashboard", "quit_run"),
]
