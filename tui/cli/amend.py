"""`phasegate amend RUN PLAN`: a new version of a live run's plan, checked by the run's engine
against what has run, put to a change gate with its difference and its impact on the forecast,
and applied once its approvers approve (`phasegate approve RUN change-N`)."""

from __future__ import annotations

import json
import os
from typing import Any

from phasegate.engine.client import RunRow, SQLiteStore, ask
from phasegate.engine.client.plans import change_lines, impact_lines, plan_from_text, read_text
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Amend
from phasegate.engine.model.errors import PlanError, UsageError
from phasegate.tui.cli.control import Refused, live_run, no_such
from phasegate.tui.text import safe


async def amend(db_path: str, ref: str, path: str, restart: tuple[str, ...], as_json: bool) -> str:
    """Validate the new plan (PlanError: its problems, as `validate` prints them), send it to
    the run's engine, and show the change gate it opened; Refused with the engine's reasons."""
    text, problems = read_text(path)
    if problems:
        raise PlanError(problems)
    store = await SQLiteStore.open(db_path)
    try:
        row = await live_run(store, ref, "its plan cannot be amended")
        saved = await store.load_plan(row.id)
        variables = list(saved[1]) if saved is not None else []
        new = plan_from_text(text, path, os.path.dirname(os.path.abspath(path)), variables)
        await _known(store, row, restart, {t.id for _, t in new.tasks()})
        order = Amend(text, os.path.abspath(path), ",".join(restart))

        def answers(event: ev.Event, sent: int) -> bool:
            if isinstance(event, ev.ChangeProposed):
                return event.command == sent
            return isinstance(event, ev.CommandDone) and event.command == sent and not event.ok

        event = await ask(store, row.id, order, answers)
    finally:
        await store.close()
    if isinstance(event, ev.CommandDone):
        raise Refused(
            event.message if event.message.startswith("refused") else f"refused: {event.message}"
        )
    assert isinstance(event, ev.ChangeProposed)
    return shown(row.id, event, as_json)


async def _known(
    store: SQLiteStore, row: RunRow, restart: tuple[str, ...], planned: set[str]
) -> None:
    """UsageError (exit 2) for a `--restart TASK` that names no task of the run nor of the new
    plan, before anything is sent: an unknown name is bad input, as for the other commands
    (control.check_names), not the engine's refusal "it is not running" (exit 1). A run whose
    start is not recorded yet is left to its engine to judge."""
    if not restart:
        return
    from phasegate.engine.model.snapshot import fold_run

    state = (await fold_run(store, row.id))[0]
    if not state.run_id:
        return
    for name in restart:
        if name not in state.tasks and name not in planned:
            raise UsageError(f"run {row.id} {no_such('task', name, state.tasks)}")


def shown(run: str, e: ev.ChangeProposed, as_json: bool) -> str:
    whom = ", ".join(e.approvers) or "the run's starter"
    if as_json:
        out: dict[str, Any] = {
            "run": run,
            "change": e.change,
            "status": "open",
            "by": e.by,
            "approvers": list(e.approvers),
            "diff": e.diff,
            "impact": e.impact,
            "restart": list(e.restart),
        }
        return json.dumps(out, indent=2)
    lines = [f"run {run}: {e.change} waits for a decision by {whom}", "", "changes:"]
    lines += [f"  {safe(line)}" for line in change_lines(e.diff)]
    if e.impact:
        lines += ["", "impact:"] + [f"  {safe(line)}" for line in impact_lines(e.impact)]
    lines += [
        "",
        f"decide: phasegate approve {run} {e.change} --reason TEXT   "
        f"(or: phasegate reject {run} {e.change} --reason TEXT)",
    ]
    return "\n".join(lines)
