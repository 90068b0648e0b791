"""`phasegate diff` of two runs of 2,000 tasks lists the tasks that changed and counts the
others (it listed all 2,000, the few that changed lost among them); `--all` lists every task,
`--json` has them all; a long critical path is cut to 80 columns in a pipe (one line of
thousands of characters)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from phasegate.engine.store import SQLiteStore
from tests.engine.test_lessons_of_runs_that_went_wrong import Run
from tests.fixtures import load_run, parse_jsonl
from tests.tui.conftest import Run as Cli

CHAIN = 300  # tasks one after the other: the critical path
TASKS = 2000


def _run(changed: bool) -> Run:
    """A run of TASKS tasks: a chain of CHAIN, then the rest side by side. The second run
    (`changed`): leaf-0010 failed, leaf-0011 took 15 s instead of 10 s, leaf-0012 needed a second
    attempt, and leaf-0013 took 66 ms instead of 5 ms (noise, not a change)."""
    run = Run()
    ids = [f"step-{i:04d}" for i in range(CHAIN)] + [f"leaf-{i:04d}" for i in range(TASKS - CHAIN)]
    run.rows[0][2]["tasks"] = [
        {"id": t, "phase": "p", "agent": "w", "estimate": None,
         "needs": [ids[i - 1]] if 0 < i < CHAIN else []}
        for i, t in enumerate(ids)
    ]  # fmt: skip
    for i in range(CHAIN):
        run.attempt(ids[i], 1, i, i + 1)
    took = {"leaf-0011": 15.0 if changed else 10.0, "leaf-0013": 0.066 if changed else 0.005}
    for t in ids[CHAIN:]:
        if changed and t == "leaf-0010":
            run.attempt(t, 1, 0, 1, "failed", "exited with code 1")
        elif changed and t == "leaf-0012":
            run.attempt(t, 1, 0, 1, "failed", "exited with code 1")
            run.attempt(t, 2, 1, 2)
        else:
            run.attempt(t, 1, 0, took.get(t, 1.0))
    run.add(CHAIN, "phase.finished", phase="p", status="failed" if changed else "succeeded")
    return run.add(CHAIN, "run.finished", status="failed" if changed else "succeeded", reason="")


def _db(path: str) -> None:
    async def fill() -> None:
        store = await SQLiteStore.open(path)
        try:
            for run_id, changed in (("r1", False), ("r2", True)):
                await load_run(store, parse_jsonl(_run(changed).text(), run_id), run_id)
        finally:
            await store.close()

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(fill())


def test_diff_of_big_runs_lists_what_changed_and_counts_the_rest(
    pg: Cli, cli_env: dict[str, str]
) -> None:
    _db(cli_env["PHASEGATE_DB"])
    done = pg("diff", "r1", "r2")  # (piped)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [line.split()[0] for line in lines if re.match(r"(leaf|step)-\d{4} ", line)]
    assert rows == ["leaf-0010", "leaf-0011", "leaf-0012"], done.stdout
    row = {line.split()[0]: line for line in lines if line.startswith("leaf-")}
    assert "succeeded -> failed" in row["leaf-0010"]
    assert row["leaf-0011"].split()[-4:] == ["10.0s", "->", "15.0s", "+5.0s"]
    assert "1 -> 2" in row["leaf-0012"]  # (its attempts)
    assert "1,997 tasks unchanged, not listed (--all lists them):" in lines
    assert "new failures: leaf-0010" in lines
    # the critical path (300 tasks, both runs): its ends, in a few lines of 80 columns at most
    at = next(i for i, line in enumerate(lines) if line.startswith("critical path unchanged: "))
    path = lines[at : at + 3]
    assert "step-0000 -> step-0001" in path[0] and "... " in done.stdout, done.stdout
    assert not lines[at + 3].startswith(" "), done.stdout
    assert all(len(line) <= 80 for line in lines), done.stdout
    assert len(lines) < 40, done.stdout
    everything = pg("diff", "r1", "r2", "--all").stdout.splitlines()
    listed = [line for line in everything if re.match(r"(leaf|step)-\d{4} ", line)]
    assert len(listed) == TASKS and not any("unchanged, not listed" in x for x in everything)
    data = json.loads(pg("diff", "r1", "r2", "--json").stdout)
    assert len(data["tasks"]) == TASKS and len(data["critical_path"]["a"]) >= CHAIN
    assert [t["id"] for t in data["tasks"] if t["changed"]] == [
        "leaf-0010",
        "leaf-0011",
        "leaf-0012",
    ]
    assert data["unchanged"]["tasks"] == TASKS - 3
