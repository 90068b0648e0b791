"""`phasegate report`, `diff` and `search`: the store's reports at the command line."""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.client import SQLiteStore, resolve_run, shown_status
from phasegate.engine.client.reports import KINDS, Facts, compare
from phasegate.engine.client.reports import make as rep
from phasegate.engine.model.durations import format_duration
from phasegate.engine.model.errors import UsageError
from phasegate.tui.cli.views import shorten
from phasegate.tui.text import chain, one_line, quoted, safe, when, whole_table

if TYPE_CHECKING:
    from phasegate.engine.client.plans import Learned

EXT = {"md": "md", "html": "html", "json": "json", "junit": "xml"}
FOUND_LINES = 6  # of a finding's column in `search`'s table, on a terminal (--json: whole)
FOUND_CHARS = 240  # of a finding in `search`'s table, whatever the output (--json: whole)
NAME_BYTES = 100  # of a plan's name in its report's file name (a file name has 255 at most)


async def report_run(db_path: str, ref: str, kind: str, fmt: str, out: str | None) -> str:
    """The report's text, or (with -o DIR) the path of the file written."""
    kinds = KINDS if kind == "all" else (kind,)
    store = await SQLiteStore.open(db_path)
    try:
        row = await resolve_run(store, ref)
        facts = await rep.facts_of(store, row.id)
        made = await rep.run_report(store, row.id, kinds)
        # (as `runs` and `show` say it: an unfinished run whose engine is gone is interrupted)
        made["summary"]["status"] = shown_status(row, made["summary"]["status"])
        if made["summary"]["status"] == "interrupted" and "lessons" in made:
            made["lessons"]["findings"].append(_interrupted(facts, row.engine_pid))
        text = rep.render(made, fmt, facts)
    finally:
        await store.close()
    if out is None:
        return text.rstrip("\n")
    name = f"{row.id}-{'junit' if fmt == 'junit' else kind}.{EXT[fmt]}"
    return _written(out, name, text)


def _interrupted(f: Facts, engine_pid: int | None) -> dict[str, str]:
    """The lesson of a run whose engine stopped before the run ended (`interrupted` until a
    `resume` takes it over): its lessons said `the run went as planned`. Only a reader that
    finds its engine gone can say it (the run's events cannot tell a live engine from a dead
    one); the take-overs that came after it are the run's own findings."""
    left = [
        t.id for t in f.state.tasks.values() if t.status.value in ("running", "pending", "ready")
    ]
    pid = f" (pid {engine_pid})" if engine_pid else ""
    return {
        "kind": "interrupted",
        "subject": "run",
        "finding": f"its engine{pid} stopped before the run ended; "
        f"{len(left)} {'task' if len(left) == 1 else 'tasks'} not finished",
        "recommendation": f"`phasegate resume {f.run_id}` goes on with it; engine.log in the "
        "run's directory may say why the engine stopped",
    }


def report_plan(
    db_path: str, path: str, variables: dict[str, str], fmt: str, out: str | None
) -> str:
    """The coordination plan of PLAN, its schedule the dry run's (`phasegate plan`): with the
    estimates earlier runs of it taught, when the database has them (none is created)."""
    from phasegate.engine.client.plans import load_plan

    if fmt == "junit":
        raise UsageError("--format junit needs a run: a plan has no task results yet")
    plan = load_plan(path, list(variables), to_run=False)  # (as the dry run: nothing runs)
    found = asyncio.run(_learned(db_path, plan.name)) if os.path.exists(db_path) else {}
    text = rep.render(rep.plan_report(plan, found, variables), fmt)
    if out is None:
        return text.rstrip("\n")
    return _written(out, f"{file_stem(plan.name)}-coordination.{EXT[fmt]}", text)


def file_stem(name: str) -> str:
    """A plan's name as the start of a file name in the directory given (-o): letters, digits
    and `-_.` only, no leading dot, at most NAME_BYTES bytes; `plan` if nothing is left (a name
    is the plan's text: `../../x` wrote its report outside the directory)."""
    stem = re.sub(r"-{2,}", "-", re.sub(r"[^\w.-]", "-", name)).lstrip(".-")
    stem = stem.encode()[:NAME_BYTES].decode(errors="ignore").rstrip(".-")
    return stem or "plan"


async def _learned(db_path: str, plan: str) -> dict[str, Learned]:
    from phasegate.engine.client.plans import learned

    store = await SQLiteStore.open(db_path)
    try:
        return await learned(store, plan)
    finally:
        await store.close()


def _written(directory: str, name: str, text: str) -> str:
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(
            f"-o takes a directory, and {directory} is a file; the report is named {name}"
        )
    try:
        return f"wrote {rep.write(directory, name, text)}"
    except OSError as exc:
        raise UsageError(f"cannot write the report into {directory}: {exc.strerror}") from None


async def search_history(db_path: str, text: str, limit: int, as_json: bool) -> str:
    if not text.strip():
        raise UsageError("give the words to search for (e.g. phasegate search 'flaky tests')")
    store = await SQLiteStore.open(db_path)
    try:
        found = await store.search(text, limit)
    finally:
        await store.close()
    if as_json:
        return json.dumps(
            {"query": text, "results": [msgspec.structs.asdict(f) for f in found]}, indent=2
        )
    if not found:
        return f"nothing found for {quoted(text)} in the history"
    # (a table: on a narrow terminal what was found wraps in its column, under its header, in
    # at most FOUND_LINES lines, and any output gets at most FOUND_CHARS of it: a 2 KB note was
    # printed whole, on one line or forty)
    said = [shorten(one_line(f"{f.subject}: {f.text}"), FOUND_CHARS) for f in found]
    return whole_table(
        ["when", "run", "plan", "kind", "found"],
        [[when(f.ts), f.run_id, f.plan, f.kind, x] for f, x in zip(found, said, strict=True)],
        whole={0, 1, 3},
        max_lines=FOUND_LINES,
    )


async def diff_runs(
    db_path: str, ref_a: str, ref_b: str | None, as_json: bool, everything: bool = False
) -> str:
    """Compare run `ref_a` with `ref_b`, by default the run of the same plan created just
    before it (its plan's first run: the one just after it; it took the newest other run, so
    `diff OLD` compared OLD with the newest and not with the run before it), the earlier of
    the two first: `diff last` says what changed since the run before. Its text lists the
    tasks that changed and counts the others (`everything`: lists them all; --json has all)."""
    store = await SQLiteStore.open(db_path)
    try:
        a = await resolve_run(store, ref_a)
        if ref_b is not None:
            b = await resolve_run(store, ref_b)
            if b.id == a.id:  # (`diff last last`: a comparison that can show nothing)
                raise UsageError(
                    f"{ref_a} and {ref_b} are the same run ({a.id}): name another run to "
                    "compare it with, or give RUN_A alone (the run of its plan before it)"
                )
        else:
            rows = await store.list_runs()  # (newest first)
            same = [r for r in rows if r.plan_name == a.plan_name]
            at = next(i for i, r in enumerate(same) if r.id == a.id)
            if len(same) == 1:
                raise UsageError(
                    f"run {a.id} is the only run of plan {safe(a.plan_name)}: "
                    "name the run to compare it with (RUN_B)"
                )
            if at + 1 < len(same):  # (the run before it)
                a, b = same[at + 1], a
            else:  # (its plan's first run: the one after it)
                b = same[at - 1]
        result = compare(await rep.facts_of(store, a.id), await rep.facts_of(store, b.id))
    finally:
        await store.close()
    if as_json:
        return json.dumps(result, indent=2)
    shown = diff_text(result, everything)
    if a.plan_name != b.plan_name:
        plans = f"{safe(a.plan_name)} and {safe(b.plan_name)}"
        shown = f"(runs of two plans: {plans})\n" + shown
    return shown


def _change(x: float | None) -> str:
    """A duration's change as `show` writes durations, signed (`+509ms`, `-1m05s`); `same`
    when it is smaller than that can show (it printed `+0.0s` and `-0.0s`)."""
    if x is None:
        return "-"
    shown = format_duration(abs(x))
    return "same" if shown == format_duration(0) else ("+" if x > 0 else "-") + shown


def _down(*runs: dict[str, Any]) -> list[str]:
    """Where an engine was down: the line that says its time is left out of the durations, as
    the performance report leaves it out (none when no engine was)."""
    said = [
        f"{format_duration(r['engine_down'])} in {safe(r['run'])}"
        for r in runs
        if format_duration(r.get("engine_down") or 0.0) != format_duration(0)
    ]
    if not said:
        return []
    return [f"engine down (not counted, as in the performance report): {', '.join(said)}"]


def diff_text(d: dict[str, Any], everything: bool = False, width: int | None = None) -> str:
    """The comparison as text: the tasks that changed (`everything`: every task) and a count of
    the others, ids, statuses and attempts whole; the critical paths cut to `width` (default: the
    terminal's, 80 in a pipe). A task without `changed` (an older comparison) is listed."""
    a, b = d["a"], d["b"]
    spans = [format_duration(x["duration"]) for x in (a, b)]
    lines = [
        f"{safe(a['run'])} ({a['status']}, {spans[0]}) -> "
        f"{safe(b['run'])} ({b['status']}, {spans[1]}): {_change(d['duration_delta'])}",
        *_down(a, b),
        "",
    ]
    listed = [t for t in d["tasks"] if everything or t.get("changed", True)]
    rows = []
    for t in listed:
        was, now = t["status_a"] or "-", t["status_b"] or "-"  # (-: not in that run)
        status = was if was == now else f"{was} -> {now}"
        tries = [t.get(k) or "-" for k in ("attempts_a", "attempts_b")]
        tried = str(tries[0]) if tries[0] == tries[1] else f"{tries[0]} -> {tries[1]}"
        took = f"{format_duration(t['duration_a'])} -> {format_duration(t['duration_b'])}"
        rows.append([safe(t["id"]), status, tried, took, _change(t["delta"])])
    if rows:  # (ids, statuses and attempts whole: a long id on a line of its own; the
        # durations wrap at their ` -> ` on a narrow terminal)
        headers = ["task", "status", "attempts", "duration", "delta"]
        lines += whole_table(headers, rows, {0, 1, 2}, width).splitlines()
    left = len(d["tasks"]) - len(listed)
    if left:  # (thousands of tasks that ran as before: counted, not listed)
        means = (d.get("unchanged") or {}).get("means")
        said = f"{left:,} {'task' if left == 1 else 'tasks'} unchanged"
        lines.append(f"{said}, not listed (--all lists them)" + (":" if means else ""))
        lines += [f"  {means}"] if means else []
    lines.append("")
    lines.append("new failures: " + (", ".join(safe(x) for x in d["new_failures"]) or "none"))
    for key, label in (("now_blocked", "now blocked"), ("now_cancelled", "now cancelled")):
        if d.get(key):  # (tasks that did not fail: blocked by a failure, or stopped)
            lines.append(f"{label}: " + ", ".join(safe(x) for x in d[key]))
    lines.append("fixed: " + (", ".join(safe(x) for x in d["fixed"]) or "none"))
    if d.get("unblocked"):
        lines.append("no longer blocked: " + ", ".join(safe(x) for x in d["unblocked"]))
    cp = d["critical_path"]  # (cut as the dry run's: 2,000 tasks made a 4,000-character line)
    if cp["a"] != cp["b"]:
        lines.append(chain("critical path before: ", [safe(x) for x in cp["a"]] or ["-"], width))
        lines.append(chain("critical path after:  ", [safe(x) for x in cp["b"]] or ["-"], width))
    else:
        lines.append(chain("critical path unchanged: ", [safe(x) for x in cp["a"]] or ["-"], width))
    amended = d.get("amendments") or {}
    if amended.get("a") or amended.get("b"):
        counts = [len(amended.get(k) or []) for k in ("a", "b")]
        lines.append(f"scope changes applied: {counts[0]} -> {counts[1]}")
    for k, m in d["metrics"].items():
        va = "n/a" if m["a"] is None else f"{m['a']:.0f}%"
        vb = "n/a" if m["b"] is None else f"{m['b']:.0f}%"
        lines.append(f"{k.replace('_', ' ')}: {va} -> {vb}")
    return "\n".join(lines)
