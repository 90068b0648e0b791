"""What runs teach, kept searchable: when a run ends, its lessons, operators' notes, risks that
fired and failures go into the store's full-text index (SQLite FTS5); `phasegate search` and
the plans' `research:` queries with provider `history` read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.plan.amend import reworked
from phasegate.engine.report.facts import BAD, Facts
from phasegate.engine.store.base import Knowledge, Store
from phasegate.engine.watch.history import cost_key, gate_key, retry_key

if TYPE_CHECKING:  # (annotations only: reading a run needs no plan model)
    from phasegate.engine.plan.model import Plan

AUTO_KINDS = ("qa", "performance", "lessons")  # written into the run directory when it ends


def entries(f: Facts, lessons: dict[str, object]) -> list[Knowledge]:
    found: list[Knowledge] = []
    ts = f.end
    for x in lessons.get("findings", []):  # type: ignore[attr-defined]
        found.append(
            Knowledge("lesson", ts, str(x["subject"]), f"{x['finding']}; {x['recommendation']}")
        )
    for when, by, text in f.state.notes:
        found.append(Knowledge("note", when, by, text))
    for g in f.state.feedback_given:  # stakeholders' answers, found by their words
        rated = f"rated {g['rating']}/5" if g.get("rating") is not None else "no rating"
        said = "; ".join(a for a in (g.get("answers") or {}).values() if a != str(g["rating"]))
        found.append(Knowledge("feedback", g["ts"], g["user"], f"{rated}: {said}"))
    for r in f.risks:
        found.append(Knowledge("risk", r.ts, r.subject, f"{r.severity}: {r.message}"))
    for t in f.state.tasks.values():
        if t.status.value in BAD:
            found.append(
                Knowledge("failure", t.finished_at or ts, t.id, f"{t.status.value}: {t.reason}")
            )
    return found


async def remember_run(store: Store, f: Facts, lessons: dict[str, object]) -> int:
    """Index what the run taught (replacing what an earlier indexing of it held)."""
    found = entries(f, lessons)
    await store.remember(f.run_id, f.state.plan_name, found)
    return len(found)


async def learn(
    store: Store, run_id: str, run_dir: str, plan: Plan | None = None, facts: Facts | None = None
) -> list[str]:
    """When a run ends: its reports into its run directory, its lessons into the index
    (from the facts its engine gathered as it went, or read back from the store)."""
    from phasegate.engine.report import make as report

    f = facts or await report.facts_of(store, run_id)
    amended = reworked(f.state.amendments, {t.id: t.agent for t in f.state.tasks.values()})
    took = {
        t.id: a.duration
        for t in f.state.tasks.values()
        if t.status.value == "succeeded"
        and t.id not in amended
        and (a := f.final(t.id)) is not None
        and a.end
    }
    # the time lost to failed attempts before each of them succeeded: the dry run counts it
    retried = f.all_retried()
    for task in took.copy():
        if (lost := retried.get(task, 0.0)) > 0:
            took[retry_key(task)] = lost
    # how long each manual gate waited for its decision: the forecast and the dry run expect
    # it. Only a wait that ended in a decision (people's, or its timeout rule's): one the run's
    # stop cut short (a cancel, SIGTERM, Ctrl-C) says nothing of how long approvers take
    # (every opening's: a gate rejected, then opened again, held the run each time)
    manual = {g.id for g in f.state.gates.values() if g.approval == "manual"}
    for gate, waited in f.gate_waits().items():
        if gate in manual:
            took[gate_key(gate)] = waited
    # what each succeeded task's coding agents cost: budgets admit its next runs with it
    for t in f.state.tasks.values():
        spent = float(t.usage.get("cost_usd", 0.0)) if t.usage.get("cost_source") else 0.0
        if t.status.value == "succeeded" and spent > 0:
            took[cost_key(t.id)] = spent
    if took:
        await store.record_durations(f.state.plan_name, run_id, f.end, took)
    # the run's own reports; its coordination plan (a simulation of the plan) is asked for
    data = await report.run_report(store, run_id, AUTO_KINDS, f, plan)
    await remember_run(store, f, data["lessons"])
    return [
        report.write(run_dir, "report.md", report.render(data, "md")),
        report.write(run_dir, "report.json", report.render(data, "json", pretty=False)),
    ]
