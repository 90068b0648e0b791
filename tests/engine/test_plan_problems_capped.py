"""A plan with very many problems: every kind of problem is still looked for (a bad duration
everywhere does not hide a bad `slots:` or a misspelt key), `validate` prints the first ones in
file order and says how many more there are (its count is of problems only), and a dependency
cycle of thousands of tasks is one short line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from phasegate.engine.plan import validate_file
from phasegate.engine.plan.check import semantic_problems
from phasegate.engine.plan.convert import MAX_PROBLEMS, convert

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"
N = 300  # more than MAX_PROBLEMS and MAX_SHOWN


def _bad_estimates(n: int = N) -> str:
    """`n` tasks with `estimate: 1x`, a quoted `slots:` on line 3, a misspelt `rn:` last."""
    lines = ["name: huge", "agents:", '  w: {slots: "8"}', "phases:", "  - id: p0", "    tasks:"]
    lines += [f"      - {{id: t{i}, run: 'true', estimate: 1x}}" for i in range(n - 1)]
    lines.append(f"      - {{id: t{n - 1}, rn: 'true', estimate: 1x}}")
    return "\n".join(lines) + "\n"


def test_many_bad_durations_hide_no_other_problem(tmp_path: Path) -> None:
    path = tmp_path / "hugebad.yaml"
    path.write_text(_bad_estimates())
    problems = validate_file(str(path))
    keys = [p.key for p in problems]
    assert keys.count("agents.w.slots") == 1
    assert f"phases[0].tasks[{N - 1}].rn" in keys
    assert sum(k.endswith(".estimate") for k in keys) == N
    assert not any("stopped after" in p.message for p in problems)  # (nothing was left out)


def test_validate_prints_the_first_problems_in_file_order_and_how_many_more(
    tmp_path: Path,
) -> None:
    from phasegate.tui.cli.common import MAX_SHOWN

    path = tmp_path / "hugebad.yaml"
    path.write_text(_bad_estimates())
    done = subprocess.run(
        [PHASEGATE, "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    total = N + 3  # the estimates, `slots`, `rn` and the `run` that the task then lacks
    assert lines[-1] == f"{path}: {total} problems"
    assert lines[-2] == (
        f"{path}: ... and {total - MAX_SHOWN} more problems, not shown: fix the first ones "
        "(`phasegate validate --json` lists every one)"
    )
    shown = lines[:-2]
    assert len(shown) == MAX_SHOWN
    assert shown[0].startswith(f"{path}:3: agents.w.slots: must be a whole number")
    numbers = [int(re.match(rf"{re.escape(str(path))}:(\d+):", s)[1]) for s in shown]  # type: ignore[index]
    assert numbers == sorted(numbers)


def test_the_note_that_the_search_stopped_says_there_are_more(tmp_path: Path) -> None:
    data = {
        "name": "p",
        "agents": {"w": {}},
        "phases": [
            {"id": "a", "tasks": [{"id": f"t{i}", "run": "x", "retries": -1} for i in range(N)]}
        ],
    }
    _, issues = convert(data)
    assert len(issues) == MAX_PROBLEMS + 1
    assert "at least one more" in issues[-1].said


def test_a_cycle_of_thousands_of_tasks_is_one_short_line() -> None:
    n = 5000
    tasks = [{"id": f"t{i}", "run": "x", "needs": [f"t{(i + 1) % n}"]} for i in range(n)]
    data = {"name": "p", "agents": {"w": {}}, "phases": [{"id": "a", "tasks": tasks}]}
    cycles = [f.message for f in semantic_problems(data) if "cycle" in f.message]
    assert len(cycles) == 1
    assert len(cycles[0]) < 300
    assert cycles[0].startswith("dependency cycle: t0 -> t1 -> t2 -> ")
    assert "-> ... and 4,990 more -> t0 (each needs the next)" in cycles[0]
