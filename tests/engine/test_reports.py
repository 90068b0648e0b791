"""Reports, metrics, diff and the searchable history, from a recorded run (fixed timestamps)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine import events as ev
from engine.knowledge import learn
from engine.report import make
from engine.report.diff import compare
from engine.report.facts import gather, metrics
from engine.store import MemoryStore
from engine.store.base import RunRow

GOLDEN = Path(__file__).parent / "data" / "report_release.md"
T0 = 1_790_000_000.0
HOSTILE = "<script>alert(1)</script> ]]> | `tick` [link](x) \x1b[31m"

PLAN = """\
name: release
agents:
  builder: {slots: 2, capabilities: [build]}
  tester: {}
phases:
  - id: build
    timebox: 60
    tasks:
      - {id: compile, run: make, agent: builder, estimate: 10, outputs: [dist/app.tar]}
      - {id: docs, run: make docs, agent: builder, estimate: 2}
  - id: check
    timebox: 30
    tasks:
      - {id: unit, run: pytest, agent: tester, needs: [compile], estimate: 5, retries: 1}
      - {id: lint, run: ruff, agent: tester, needs: [compile], estimate: 5}
gates:
  - {id: qa, after: build, criteria: [{run: "true"}], approvers: [alice]}
"""


def _events(run_id: str, unit_fails: bool = False, t: float = T0) -> list[ev.Event]:
    tasks = [
        {"id": "compile", "phase": "build", "agent": "builder", "needs": [], "estimate": 10.0},
        {"id": "docs", "phase": "build", "agent": "builder", "needs": [], "estimate": 2.0},
        {"id": "unit", "phase": "check", "agent": "tester", "needs": ["compile"], "estimate": 5.0},
        {"id": "lint", "phase": "check", "agent": "tester", "needs": ["compile"], "estimate": 5.0},
    ]
    criteria = [{"kind": "run", "spec": "true", "passed": True, "detail": "exit 0"}]
    gate = {"id": "qa", "after": "build", "approval": "manual", "approvers": ["alice"], "quorum": 1}
    unit_end = [
        ev.TaskFinished(t + 52, "unit", 2, "failed", 1, reason="exited with code 1")
        if unit_fails
        else ev.TaskFinished(t + 52, "unit", 2, "succeeded", 0)
    ]
    return [
        ev.RunStarted(
            t,
            run_id,
            "release",
            "/plans/release.yaml",
            phases=[
                {"id": "build", "title": "", "timebox": 60.0},
                {"id": "check", "title": "", "timebox": 30.0},
            ],
            tasks=tasks,
            gates=[gate],
            agents=[
                {"id": "builder", "slots": 2, "capabilities": ["build"]},
                {"id": "tester", "slots": 1, "capabilities": []},
            ],
            user="alice",
            host="ci",
        ),
        ev.PhaseStarted(t + 1, "build"),
        ev.TaskReady(t + 1, "compile"),
        ev.TaskReady(t + 1, "docs"),
        ev.TaskStarted(t + 1, "compile", 1, "builder", 100, 100),
        ev.TaskStarted(t + 1, "docs", 1, "builder", 101, 101),
        ev.TaskFinished(t + 3, "docs", 1, "succeeded", 0),
        ev.RiskRaised(
            t + 15,
            "overrun:compile",
            "overrun",
            "medium",
            "task compile",
            f"past its estimate {HOSTILE}",
            "check its output",
        ),
        ev.TaskFinished(t + 31, "compile", 1, "succeeded", 0),
        ev.RiskCleared(t + 31, "overrun:compile"),
        ev.PhaseFinished(t + 31, "build", "succeeded"),
        ev.GateOpened(t + 31, "qa", 1, criteria, "abc123", "manual"),
        ev.GateVoted(t + 40, "qa", "approve", "alice", 1000, "ci", reason=f"fine {HOSTILE}"),
        ev.GateClosed(t + 40, "qa", "passed"),
        ev.RunNoted(t + 41, f"remember the cache {HOSTILE}", "bob"),
        ev.PhaseStarted(t + 41, "check"),
        ev.TaskReady(t + 41, "unit"),
        ev.TaskReady(t + 41, "lint"),
        ev.TaskStarted(t + 41, "unit", 1, "tester", 102, 102),
        ev.TaskFinished(t + 44, "unit", 1, "failed", 1, reason="exited with code 1"),
        ev.TaskRetrying(t + 44, "unit", 2, 1.0, "exited with code 1"),
        ev.TaskStarted(t + 45, "lint", 1, "tester", 103, 103),
        ev.TaskFinished(t + 47, "lint", 1, "succeeded", 0),
        ev.TaskStarted(t + 47, "unit", 2, "tester", 104, 104),
        *unit_end,
        ev.PhaseFinished(t + 52, "check", "failed" if unit_fails else "succeeded"),
        ev.RunFinished(t + 52, "failed" if unit_fails else "succeeded"),
    ]


async def _store(*runs: tuple[str, bool]) -> MemoryStore:
    store = MemoryStore()
    for i, (run_id, fails) in enumerate(runs):
        start = T0 + 100 * i  # one run after the other
        await store.create_run(RunRow(run_id, "release", "/plans/release.yaml", "running", start))
        events = _events(run_id, fails, start)
        await store.write_batch(run_id, list(enumerate(events, 1)))
        await store.save_plan(run_id, PLAN, {})
    return store


async def test_the_report_of_a_recorded_run_matches_the_golden_file() -> None:
    store = await _store(("r1", False))
    report = await make.run_report(store, "r1", ("coordination", "qa", "performance", "lessons"))
    text = make.render(report, "md")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


async def test_the_success_metrics_of_a_run() -> None:
    store = await _store(("r1", False))
    f = gather("r1", [e for _, e in await store.read_events("r1")])
    scores = metrics(f)
    assert scores["task_success_rate"] == 100.0
    # compile 30 s over its 10 s estimate, unit's last attempt 5 s of 5 s, docs 2 of 2, lint 2
    # of 5; build phase 30 s of 60, check 11 s of 30: 5 of 6 on time
    assert scores["timeline_adherence"] == pytest.approx(100 * 5 / 6)
    assert scores["quality_compliance"] == 100.0
    # busy: compile 30 + docs 2 + unit 3 + 5 + lint 2 = 42 slot-seconds of 3 slots x 52 s
    assert scores["resource_efficiency"] == pytest.approx(100 * 42 / (3 * 52))


async def test_html_parses_draws_a_gantt_and_escapes_untrusted_text() -> None:
    store = await _store(("r1", False))
    page = make.render(await make.run_report(store, "r1", ("performance", "lessons", "qa")), "html")
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: object) -> None:
            tags.append(tag)

    Tags().feed(page)
    assert "svg" in tags and tags.count("rect") == 4 and "script" not in tags
    assert (
        "&lt;script&gt;" in page and "<script>" not in page and "http" not in page.split("xmlns")[0]
    )


async def test_junit_has_one_test_case_per_task_and_parses() -> None:
    store = await _store(("r2", True))
    f = await make.facts_of(store, "r2")
    suite = ET.fromstring(make.render({}, "junit", f).split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"compile", "docs", "unit", "lint"}
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    failure = cases["unit"].find("failure")
    assert failure is not None and failure.get("message") == "exited with code 1"
    assert cases["compile"].get("classname") == "build" and cases["compile"].get("time") == "30.000"


async def test_diff_of_two_runs_names_new_failures_and_metric_changes() -> None:
    store = await _store(("good", False), ("bad", True))
    d = compare(await make.facts_of(store, "good"), await make.facts_of(store, "bad"))
    assert d["new_failures"] == ["unit"] and d["fixed"] == []
    unit = next(t for t in d["tasks"] if t["id"] == "unit")
    assert (unit["status_a"], unit["status_b"]) == ("succeeded", "failed")
    assert d["metrics"]["task_success_rate"]["delta"] == -25.0
    back = compare(await make.facts_of(store, "bad"), await make.facts_of(store, "good"))
    assert back["fixed"] == ["unit"] and back["new_failures"] == []


async def test_lessons_are_kept_searchable_and_flaky_tasks_found_across_runs(
    tmp_path: Path,
) -> None:
    store = await _store(("good", False), ("bad", True))
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
    from engine.store.base import Knowledge

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
