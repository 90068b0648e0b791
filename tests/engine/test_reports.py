"""Reports, metrics, diff and the searchable history, from a recorded run (fixed timestamps)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from phasegate.engine.report import make
from phasegate.engine.report.diff import compare
from phasegate.engine.report.facts import gather
from phasegate.engine.report.knowledge import learn
from phasegate.engine.report.measures import metrics
from phasegate.engine.store import MemoryStore
from phasegate.engine.store.base import RunRow
from tests.fixtures import Recording, load_run, read_jsonl

GOLDEN = Path(__file__).parent / "data" / "report_release.md"
T0 = 1_790_000_000.0

DATA = Path(__file__).parent / "data"
PLAN = (DATA / "release.yaml").read_text()
# two recorded runs of the plan (fixed timestamps): one that succeeded, one where `unit` failed;
# the notes, decisions and a risk in them carry hostile text: <script>, ]]>, |, ESC
RECORDINGS = {"good": DATA / "release_good.jsonl", "bad": DATA / "release_failed.jsonl"}


async def _store(*runs: str) -> MemoryStore:
    store = MemoryStore()
    for run_id in runs:
        await load_run(store, read_jsonl(RECORDINGS[run_id]))
        await store.save_plan(run_id, PLAN, {})
    return store


async def test_the_report_of_a_recorded_run_matches_the_golden_file() -> None:
    store = await _store("good")
    report = await make.run_report(store, "good", ("coordination", "qa", "performance", "lessons"))
    text = make.render(report, "md")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


async def test_the_success_metrics_of_a_run() -> None:
    store = await _store("good")
    f = gather("good", [e for _, e in await store.read_events("good")])
    scores = metrics(f)
    assert scores["task_success_rate"] == 100.0
    # compile 30 s over its 10 s estimate, unit's last attempt 5 s of 5 s, docs 2 of 2, lint 2
    # of 5; build phase 30 s of 60, check 11 s of 30: 5 of 6 on time
    assert scores["timeline_adherence"] == pytest.approx(100 * 5 / 6)
    assert scores["quality_compliance"] == 100.0
    # busy: compile 30 + docs 2 + unit 3 + 5 + lint 2 = 42 slot-seconds of 3 slots x 52 s
    assert scores["resource_efficiency"] == pytest.approx(100 * 42 / (3 * 52))


async def test_html_parses_draws_a_gantt_and_escapes_untrusted_text() -> None:
    store = await _store("good")
    page = make.render(
        await make.run_report(store, "good", ("performance", "lessons", "qa")), "html"
    )
    tags: list[str] = []
    bars: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            cls = dict(attrs).get("class") or ""
            if tag == "rect" and cls.startswith("b-"):
                bars.append(cls)

    Tags().feed(page)
    # a bar per attempt (unit's two), the critical path outlined; no script, light and dark
    assert tags.count("svg") >= 2 and len(bars) == 5 and "script" not in tags
    assert bars.count("b-succeeded crit") == 2 and bars.count("b-failed") == 1
    assert "prefers-color-scheme: dark" in page and "@media print" in page
    assert (
        "&lt;script&gt;" in page and "<script>" not in page and "http" not in page.split("xmlns")[0]
    )


async def test_junit_has_one_test_case_per_task_and_parses() -> None:
    store = await _store("bad")
    f = await make.facts_of(store, "bad")
    suite = ET.fromstring(make.render({}, "junit", f).split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"compile", "docs", "unit", "lint"}
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    failure = cases["unit"].find("failure")
    assert failure is not None and failure.get("message") == "exited with code 1"
    assert cases["compile"].get("classname") == "build" and cases["compile"].get("time") == "30.000"


async def test_diff_of_two_runs_names_new_failures_and_metric_changes() -> None:
    store = await _store("good", "bad")
    d = compare(await make.facts_of(store, "good"), await make.facts_of(store, "bad"))
    assert d["new_failures"] == ["unit"] and d["fixed"] == []
    unit = next(t for t in d["tasks"] if t["id"] == "unit")
    assert (unit["status_a"], unit["status_b"]) == ("succeeded", "failed")
    assert d["metrics"]["task_success_rate"]["delta"] == -25.0
    back = compare(await make.facts_of(store, "bad"), await make.facts_of(store, "good"))
    assert back["fixed"] == ["unit"] and back["new_failures"] == []


async def test_diff_lists_blocked_and_cancelled_tasks_apart_from_failures() -> None:
    """`diff` named every task that ended badly a new failure: `new failures: two, three, four`
    where three and four were blocked by two's failure, never run (and `fixed` them after)."""
    from phasegate.engine.model import events as ev

    store = await _store("good")
    events: list[ev.Event] = []
    for _, e in read_jsonl(RECORDINGS["bad"]).events:
        if getattr(e, "task", None) == "lint":
            continue  # (lint is blocked by unit's failure in this run: it never starts)
        if isinstance(e, ev.RunStarted):
            e = e.replace(run_id="blocked")
        if isinstance(e, ev.TaskFinished) and e.task == "docs":
            e = e.replace(status="cancelled", exit_code=None, reason="cancelled by alice")
        if isinstance(e, ev.PhaseFinished) and e.phase == "check":
            events.append(ev.TaskBlocked(e.ts, "lint", "needs 'unit', which failed"))
        events.append(e)
    await load_run(store, Recording(events=list(enumerate(events, 1))))
    d = compare(await make.facts_of(store, "good"), await make.facts_of(store, "blocked"))
    assert d["new_failures"] == ["unit"]
    assert d["now_blocked"] == ["lint"] and d["now_cancelled"] == ["docs"]
    back = compare(await make.facts_of(store, "blocked"), await make.facts_of(store, "good"))
    assert back["fixed"] == ["unit"] and back["unblocked"] == ["lint"]
    assert back["new_failures"] == back["now_blocked"] == back["now_cancelled"] == []


async def test_lessons_are_kept_searchable_and_flaky_tasks_found_across_runs(
    tmp_path: Path,
) -> None:
    store = await _store("good", "bad")
    await learn(store, "good", str(tmp_path / "good"))
    await learn(store, "bad", str(tmp_path / "bad"))
    assert (tmp_path / "bad" / "report.md").read_text().count("Lessons learned") == 1
    lessons = (await make.run_report(store, "bad", ("lessons",)))["lessons"]
    kinds = {(x["kind"], x["subject"]) for x in lessons["findings"]}
    assert ("estimate", "compile") in kinds and ("flaky", "unit") in kinds
    assert lessons["handoff"]["open_items"][0]["task"] == "unit"
    found = await store.search("cache")
    assert {(f.run_id, f.kind) for f in found} == {("good", "note"), ("bad", "note")}
    assert await store.search("attempt", exclude_run="bad")
    assert await store.search("\"'*:()") == []


async def test_history_is_how_each_task_ended_in_the_earlier_runs() -> None:
    """The lessons compare with earlier runs by how each task ended in them (its last
    task.finished), read from the store without replaying those runs; the run itself is left
    out, and so are runs that started after it."""
    store = await _store("good", "bad")
    bad, good = await make.facts_of(store, "bad"), await make.facts_of(store, "good")
    (earlier,) = await make.history_of(store, bad)
    assert earlier == {t.id: t.status.value for t in good.state.tasks.values()}
    assert earlier["unit"] == "succeeded" and bad.state.tasks["unit"].status.value == "failed"
    assert await make.history_of(store, good) == []


RESEARCH = """
name: release
vars: {branch: main}
agents: {w: {}}
research:
  - {id: past, query: "cache trouble on {branch}"}
  - id: docs
    query: "it's {branch}"
    provider: {run: "printf '%s\\\\n' first {query} third fourth"}
    limit: 3
  - {id: down, query: x, provider: {run: "sh -c 'echo why >&2; exit 4'"}}
phases:
  - id: one
    tasks: [{id: a, run: "true"}]
"""


async def test_research_asks_the_history_and_commands_as_the_first_phase_starts(
    tmp_path: Path,
) -> None:
    from phasegate.engine.store.base import Knowledge

    from .helpers import ScriptedExecutor, run_plan

    store = MemoryStore()
    await store.create_run(RunRow("old", "release", "x.yaml", "succeeded", T0))
    await store.remember("old", "release", [Knowledge("note", T0, "bob", "the cache was stale")])
    state, store = await run_plan(tmp_path, RESEARCH, ScriptedExecutor(), store)
    past, docs, down = (state.research[k] for k in ("past", "docs", "down"))
    assert past["query"] == "cache trouble on main" and past["results"] == [
        "old note bob: the cache was stale"
    ]
    # the query is one shell word, whatever quotes it holds; `limit` answers are kept
    assert docs["results"] == ["first", "it's main", "third"] and docs["error"] == ""
    assert down["results"] == [] and "exited 4" in down["error"] and "why" in down["error"]
    events = [type(e).__name__ for _, e in await store.read_events("run1")]
    assert events.index("ResearchFinished") < events.index("TaskStarted")
    report = await make.run_report(store, "run1", ("coordination",))
    assert [r["id"] for r in report["coordination"]["research"]] == ["past", "docs", "down"]


async def test_history_leaves_out_a_task_whose_work_an_amendment_changed(tmp_path: Path) -> None:
    """`amend --restart` turned b's `sleep 45` into `sleep 2`: its 2 s are not the plan's b, so
    the next run of the plan is not forecast by them. a, unchanged but for its estimate, is."""
    from phasegate.engine.model import events as ev

    store = MemoryStore()
    await store.create_run(RunRow("am", "amended", "amended.yaml", "pending", T0))
    tasks = [{"id": t, "phase": "p", "agent": "w", "capability": None, "needs": []} for t in "ab"]
    diff = [
        {
            "what": "task",
            "id": "b",
            "change": "changed",
            "fields": {"run": ["sleep 45", "sleep 2"]},
        },
        {"what": "task", "id": "a", "change": "changed", "fields": {"estimate": [None, 3.0]}},
    ]
    events: list[ev.Event] = [
        ev.RunStarted(T0, "am", "amended", "amended.yaml", [{"id": "p"}], tasks, []),
        ev.TaskStarted(T0, "a", 1, "w", 1, 1),
        ev.TaskFinished(T0 + 3, "a", 1, "succeeded", 0),
        ev.PlanAmended(T0 + 4, "c1", 2, "bob", "name: amended", diff, [{"id": "p"}], tasks),
        ev.TaskStarted(T0 + 4, "b", 1, "w", 2, 2),
        ev.TaskFinished(T0 + 6, "b", 1, "succeeded", 0),
        ev.RunFinished(T0 + 6, "succeeded"),
    ]
    await store.write_batch("am", list(enumerate(events, 1)))
    await learn(store, "am", str(tmp_path / "am"))
    assert await store.durations("amended") == {"a": [3.0]}


async def test_a_kept_plan_this_phasegate_refuses_is_said_so_not_called_missing() -> None:
    # (a plan an older phasegate took, with a priority past today's bound: the report said the
    # plan "was not kept (older run)", though it was)
    from phasegate.engine.model import events as ev

    store = MemoryStore()
    await store.create_run(RunRow("r", "old", "/nowhere/old.yaml", "succeeded", 1.0))
    await store.save_plan(
        "r",
        "name: old\nagents: {a: {}}\n"
        "phases: [{id: p, tasks: [{id: t, run: 'true', priority: 5000000}]}]\n",
        {},
    )
    started = ev.RunStarted(
        1.0,
        "r",
        "old",
        "/nowhere/old.yaml",
        phases=[{"id": "p"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
    )
    await store.write_batch("r", [(1, started), (2, ev.RunFinished(2.0, "succeeded"))])
    report = await make.run_report(store, "r", ("coordination",))
    note = report["coordination"]["note"]
    assert "not one this phasegate takes any more" in note and "older run" not in note
    await store.create_run(RunRow("s", "old", "/nowhere/old.yaml", "succeeded", 1.0))
    await store.write_batch("s", [(1, started.replace(run_id="s"))])
    missing = await make.run_report(store, "s", ("coordination",))
    assert missing["coordination"]["note"] == "the run's plan was not kept (older run)"
