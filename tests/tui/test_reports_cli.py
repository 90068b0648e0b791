"""Reports, diff and search at the command line, on real runs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import Run

pytestmark = pytest.mark.slow  # (every test here takes seconds alone: make test-slow runs them)

PLAN = """
name: shipping
agents: {w: {slots: 2}}
phases:
  - id: build
    tasks:
      - {id: make, run: "sh -c 'mkdir -p out && touch out/app'", outputs: [out/app], estimate: 5}
      - {id: flaky, run: "sh -c 'test $PHASEGATE_ATTEMPT -ge 2'", retries: 1}
      - {id: check, run: "sh -c 'test -f fail && exit 3 || true'", needs: [make]}
"""


def test_a_finished_run_has_its_reports_and_every_format_works(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    done = pg("run", "plan.yaml", "--headless")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(pg("show", "last", "--json").stdout)["id"]
    written = tmp_path / "data" / "runs" / run_id / "report.md"
    assert f"report: {written}" in done.stdout
    assert "## Lessons learned" in written.read_text() and "flaky" in written.read_text()
    assert json.loads(written.with_suffix(".json").read_text())["summary"]["status"] == "succeeded"

    printed = pg("report", "last", "--kind", "qa")
    assert printed.returncode == 0 and "## QA report" in printed.stdout
    assert "## Lessons" not in printed.stdout
    out = pg("report", "last", "--format", "html", "-o", "rep")
    page = (tmp_path / "rep" / f"{run_id}-all.html").read_text()
    assert out.returncode == 0 and "prefers-color-scheme" in page and "<svg" in page
    junit = pg("report", "last", "--format", "junit", "-o", "rep")
    suite = ET.parse(tmp_path / "rep" / f"{run_id}-junit.xml").getroot()
    assert junit.returncode == 0 and suite.get("tests") == "3"
    as_json = json.loads(pg("report", "last", "--format", "json").stdout)
    assert set(as_json) >= {"summary", "metrics", "coordination", "qa", "performance", "lessons"}
    dry = pg("plan", "plan.yaml", "--json")
    sources = {t["id"]: t["estimate_from"] for t in json.loads(dry.stdout)["tasks"]}
    assert sources == {"make": "history", "flaky": "history", "check": "history"}
    # flaky failed once and waited its 1 s backoff: the dry run counts that time for it
    retries = {t["id"]: t["retry_s"] for t in json.loads(dry.stdout)["tasks"]}
    assert retries["flaky"] >= 1.0 and retries["make"] == retries["check"] == 0.0, retries
    assert "from earlier runs (median) for 3 of 3 tasks" in pg("plan", "plan.yaml").stdout
    assert "retries counted" in pg("plan", "plan.yaml").stdout
    before = pg("report", "--plan", "plan.yaml", "--kind", "coordination")
    assert before.returncode == 0 and "Simulated schedule" in before.stdout
    # one simulator, one answer: the dry run and the coordination plan name the same duration
    # (they said 52.1 s and 1m38s: the report ignored the estimates earlier runs taught)
    dry_text = pg("plan", "plan.yaml").stdout
    figure = re.search(r"dry run of shipping: (\S+) if", dry_text)
    assert figure is not None, dry_text
    assert f"Projected duration {figure.group(1)};" in before.stdout, (dry_text, before.stdout)
    assert figure.group(1) != "5.0s"  # (the plan's own estimates: history counts in both)
    metrics = json.loads(pg("show", "last", "--json").stdout)["metrics"]
    assert metrics["task_success_rate"] == 100.0
    assert "success 100%" in pg("show", "last").stdout


def test_diff_and_search_across_two_runs(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    first = json.loads(pg("show", "last", "--json").stdout)["id"]
    (tmp_path / "fail").touch()
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 1
    diff = pg("diff", first, "last")
    assert diff.returncode == 0 and "new failures: check" in diff.stdout
    # `diff last`: what changed since the run before (it compared them backwards)
    assert pg("diff", "last").stdout == diff.stdout
    # RUN_B left out: the newest other run of the same plan, never another plan's newest run
    (tmp_path / "other.yaml").write_text(PLAN.replace("name: shipping", "name: other", 1))
    assert pg("run", "other.yaml", "--headless", "-q").returncode in (0, 1)
    assert pg("diff", first).stdout == diff.stdout
    alone = pg("diff", "last")
    assert alone.returncode == 2 and "the only run of plan other" in alone.stderr
    itself = pg("diff", "last", "last")  # (a comparison that could show nothing)
    assert itself.returncode == 2 and "are the same run" in itself.stderr and not itself.stdout
    mixed = pg("diff", first, "last")
    assert mixed.stdout.startswith("(runs of two plans: shipping and other)")
    data = json.loads(pg("diff", first, "last", "--json").stdout)
    assert data["new_failures"] == ["check"]
    noted = pg("note", "last", "check broke on the <b>fail</b> marker file")
    assert noted.returncode == 0 and "noted" in noted.stdout  # the run had ended
    lessons = pg("report", "last", "--kind", "lessons").stdout
    assert "check broke on the \\<b\\>fail\\</b\\> marker file" in lessons
    assert pg("note", "last", " ").returncode == 2
    found = json.loads(pg("search", "marker", "--json").stdout)["results"]
    assert [(r["kind"], r["text"]) for r in found][:1] == [
        ("note", "check broke on the <b>fail</b> marker file")
    ]
    found = json.loads(pg("search", "exited code", "--json").stdout)["results"]
    assert any(r["kind"] == "failure" and r["subject"] == "check" for r in found)
    assert "nothing found" in pg("search", "zebra").stdout


BLOCKING = """
name: blocking
agents: {w: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: one, run: "true"}
      - {id: two, run: "sh -c 'test ! -f fail'"}
      - {id: three, run: "true", needs: [two]}
      - {id: four, run: "true", needs: [two]}
"""


def test_diff_names_blocked_tasks_apart_and_search_cuts_a_long_note(
    pg: Run, tmp_path: Path
) -> None:
    """`diff` said `new failures: two, three, four` (three and four were blocked, never run) and
    `0.5s -> 0.5s: -0.0s`; `search` printed a 2 KB note whole on one line."""
    (tmp_path / "plan.yaml").write_text(BLOCKING)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    (tmp_path / "fail").touch()
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 1
    diff = pg("diff", "last")
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert "new failures: two" in lines and "now blocked: three, four" in lines, diff.stdout
    assert not re.search(r"0\.0s|[+-]0ms", diff.stdout), diff.stdout  # (as `show`: 7ms, 23ms)
    data = json.loads(pg("diff", "last", "--json").stdout)
    assert data["new_failures"] == ["two"] and data["now_blocked"] == ["three", "four"]
    note = "the deploy script hangs on the staging host when the vpn drops; " * 32
    assert pg("note", "last", note).returncode == 0
    found = pg("search", "staging")  # (piped)
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2, found.stdout
    assert found.stdout.rstrip().endswith("…") and len(found.stdout) < 400
    whole = json.loads(pg("search", "staging", "--json").stdout)["results"]
    assert [r["text"] for r in whole if r["kind"] == "note"] == [note]


def test_bad_input_gets_a_clear_error(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    for args, words in [
        (("report", "nope"), "no run"),
        (("report", "last"), "no runs yet"),
        (("diff", "a", "b"), "no runs yet"),
        (("report", "--plan", "missing.yaml"), "no such file"),
        (("report", "--plan", "plan.yaml", "--format", "junit"), "needs a run"),
        (("report", "--kind", "bogus"), "Invalid value"),
    ]:
        done = pg(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert pg("run", "plan.yaml", "--headless", "-q").returncode == 0
    (tmp_path / "file").touch()
    blocked = pg("report", "last", "-o", "file/sub")
    assert blocked.returncode == 2 and "cannot write the report" in blocked.stderr
    onto = pg("report", "last", "-o", "file")  # (it said: `File exists`)
    assert onto.returncode == 2 and "-o takes a directory, and file is a file" in onto.stderr
