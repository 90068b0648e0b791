"""Reports generated from the store: what a lead hands on after a run (or before it, for the
coordination plan), in Markdown, HTML, JSON or JUnit XML."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import UsageError
from phasegate.engine.report import build
from phasegate.engine.report.facts import Facts, gather
from phasegate.engine.report.lessons import lessons
from phasegate.engine.report.measures import metrics
from phasegate.engine.report.render import markdown
from phasegate.engine.store.base import Store
from phasegate.engine.watch.history import Learned, learned

if TYPE_CHECKING:  # (`show`, `runs` and `logs` read runs without parsing a plan: start-up)
    from phasegate.engine.plan.model import Plan

FORMATS = ("md", "html", "json", "junit")
HISTORY = 10  # earlier runs of the same plan read for the lessons
ALL = 2**62  # every sequence number, no limit


async def facts_of(store: Store, run_id: str) -> Facts:
    f = gather(run_id, [e for _, e in await store.read_events(run_id)])
    row = await store.get_run(run_id)
    f.seen = row.heartbeat_at if row is not None else None
    return f


async def plan_of(store: Store, run_id: str, path: str) -> Plan | None:
    """The plan a run was started with, from the database (None for older runs)."""
    return (await kept_plan(store, run_id, path))[0]


async def kept_plan(store: Store, run_id: str, path: str) -> tuple[Plan | None, dict[str, str]]:
    """The plan a run was started with and the values it was given (`--var`), from the
    database (None and {} for older runs)."""
    saved = await store.load_plan(run_id)
    if saved is None:
        return None, {}
    text, variables = saved
    from phasegate.engine.plan.load import plan_from_text

    try:
        base = os.path.dirname(path) or "."
        # (its secrets' sources need not be here: an observer of a shared run, another shell)
        return plan_from_text(text, path, base, list(variables), here=False), variables
    except UsageError:
        return None, variables


def values_of(plan: Plan, given: dict[str, str], f: Facts | None = None) -> dict[str, str]:
    """The values the run's `{name}`s had: the plan's vars, those given, the built-in ones."""
    values = {k: str(v) for k, v in plan.vars.items()} | {k: str(v) for k, v in given.items()}
    values["workdir"] = plan.base_dir
    if f is not None:
        values["run_id"] = f.run_id
        if f.state.started_at is not None:
            values["current_date"] = time.strftime("%Y-%m-%d", time.localtime(f.state.started_at))
    return values


async def history_of(store: Store, f: Facts) -> list[dict[str, str]]:
    """How each task ended in the earlier runs of the same plan (by name), newest run first:
    task -> the status of its last `task.finished`. Only those events are read, not whole runs
    (replaying ten earlier runs of a big plan took longer than the run's own reports)."""
    found = []
    for row in await store.list_runs(200):
        if row.id == f.run_id or row.plan_name != f.state.plan_name:
            continue
        if row.created_at >= (f.start or float("inf")):
            continue
        ends: dict[str, str] = {}
        for _, e in await store.recent_events(row.id, (ev.TaskFinished.type,), ALL, ALL):
            if isinstance(e, ev.TaskFinished):
                ends.setdefault(e.task, e.status)  # newest first: the first is the last
        found.append(ends)
        if len(found) >= HISTORY:
            break
    return found


async def run_report(
    store: Store,
    run_id: str,
    kinds: tuple[str, ...],
    facts: Facts | None = None,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """The report of a run (its facts and plan read from the store unless given)."""
    f = facts or await facts_of(store, run_id)
    if plan is None:
        plan, given = await kept_plan(store, run_id, f.state.plan_path)
    else:  # (the engine's own plan: only the values it was given are read back, not parsed)
        saved = await store.load_plan(run_id)
        given = saved[1] if saved is not None else {}
    scores = metrics(f)
    report: dict[str, Any] = {"summary": build.summary(f), "metrics": scores}
    values = values_of(plan, given, f) if plan is not None else {}
    planned = (
        # (the history the run started with: not what later runs, or the run itself, taught)
        build.coordination(plan, None, values, await learned(store, plan.name, f.state.started_at))
        if plan is not None
        else None
    )
    if "coordination" in kinds:
        kept = planned is not None or await store.load_plan(run_id) is not None
        why = (
            "the run's kept plan is not one this phasegate takes any more (`phasegate validate` "
            "on its file says why): its coordination plan cannot be drawn again"
            if kept
            else "the run's plan was not kept (older run)"
        )
        report["coordination"] = planned or {"note": why}
        if planned is not None:
            report["coordination"]["research"] = research_of(f)
    if "qa" in kinds:
        report["qa"] = build.qa(f, scores)
    if "performance" in kinds:
        path = planned["schedule"]["critical_path"] if planned else []
        report["performance"] = build.performance(f, scores, path)
    if "lessons" in kinds:
        outputs = {t.id: list(t.outputs) for _, t in plan.tasks()} if plan else {}
        history = await history_of(store, f)
        report["lessons"] = lessons(f, history, outputs, values, standing_by(plan))
    if "trend" in kinds or "performance" in kinds:
        report["trend"] = await trend_of(store, f, scores)
    return report


TREND = tuple(
    c.type
    for c in (
        ev.RunStarted,
        ev.RunFinished,
        ev.RunRecovered,
        ev.PhaseStarted,
        ev.PhaseFinished,
        ev.TaskStarted,
        ev.TaskFinished,
        ev.TaskSkipped,
        ev.GateOpened,
        ev.GateClosed,
        ev.FeedbackGiven,
    )
)  # the events an earlier run's metrics are folded from (not its output nor its forecasts)


async def trend_of(store: Store, f: Facts, scores: dict[str, float | None]) -> list[dict[str, Any]]:
    """The plan's success metrics, duration and status in its earlier runs (up to HISTORY
    of them, those started before this one) and in this run, oldest first."""
    points = [_point(f, scores)]
    for row in await store.list_runs(200):
        if len(points) > HISTORY:
            break
        if row.id == f.run_id or row.plan_name != f.state.plan_name:
            continue
        if row.created_at >= (f.start or float("inf")) or row.started_at is None:
            continue
        events = await store.recent_events(row.id, TREND, ALL, ALL)
        earlier = gather(row.id, [e for _, e in reversed(events)])
        points.append(_point(earlier, metrics(earlier)))
    return points[::-1]


def _point(f: Facts, scores: dict[str, float | None]) -> dict[str, Any]:
    """A run of the trend: its `duration` as the performance report counts it, the time no
    engine ran the run (a crash until its take-over, `engine_down`) left out (a crash made
    the run look slow)."""
    alive = f.alive(f.start, f.end)
    return {
        "run": f.run_id,
        "started_at": f.state.started_at,
        "status": f.state.status.value,
        "duration": alive,
        "engine_down": f.end - f.start - alive,
        "metrics": scores,
    }


def standing_by(plan: Plan | None) -> frozenset[str]:
    """The plan's fallback tasks: those that stand in for a failed task or run when a risk
    rule fires (none known without the run's plan)."""
    if plan is None:
        return frozenset()
    from phasegate.engine.plan.fallbacks import fallbacks, risk_fallbacks

    return frozenset(fallbacks(plan).values()) | frozenset(risk_fallbacks(plan))


def research_of(f: Facts) -> list[dict[str, Any]]:
    return [dict(r) for r in getattr(f.state, "research", {}).values()]


def plan_report(
    plan: Plan, found: dict[str, Learned] | None = None, given: dict[str, str] | None = None
) -> dict[str, Any]:
    """The coordination plan of a plan that has not run yet (`found`: what earlier runs of it
    took, as the dry run has it; `given`: the values of `--var`)."""
    return {
        "summary": {
            "run": "(not run yet)",
            "plan": plan.name,
            "status": "planned",
            "reason": "",
            "duration": None,
            "engine_down": None,
            "counts": {},
        },
        "coordination": build.coordination(plan, None, values_of(plan, given or {}), found),
    }


def render(report: dict[str, Any], fmt: str, f: Facts | None = None, pretty: bool = True) -> str:
    if fmt == "md":
        return markdown(report)
    if fmt == "html":
        from phasegate.engine.report.html import to_html  # (not among the end-of-run reports)

        return to_html(report)
    if fmt == "json":
        # (indented JSON takes json's pure-Python encoder: ten times slower on a big run)
        return json.dumps(report, indent=2 if pretty else None, default=str) + "\n"
    if fmt == "junit":
        if f is None:
            raise UsageError("a JUnit report needs a run (not --plan)")
        from phasegate.engine.report.junit import junit  # (not among the end-of-run reports)

        return junit(f)
    raise UsageError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def write(directory: str, name: str, text: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
    return path
