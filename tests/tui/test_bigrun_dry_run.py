"""`phasegate plan PLAN | cat` of a plan of 2,000 tasks printed its critical path (a chain of
300) on one line of 4,000 characters: it is cut to its first and last tasks and how many are
left out, at 80 columns in a pipe; `--json` keeps the whole path."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tui.conftest import Run

CHAIN = 300


def _plan(tasks: int) -> str:
    lines = ["name: big", "agents: {w: {slots: 8}}", "phases:", "  - id: p", "    tasks:"]
    for i in range(CHAIN):
        need = f", needs: [step-{i - 1:04d}]" if i else ""
        lines.append(f"      - {{id: step-{i:04d}, run: 'true', estimate: 10{need}}}")
    lines += [
        f"      - {{id: leaf-{i:04d}, run: 'true', estimate: 1}}" for i in range(tasks - CHAIN)
    ]
    return "\n".join(lines) + "\n"


def test_a_long_critical_path_is_cut_to_80_columns_in_a_pipe(pg: Run, tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(_plan(2000))
    done = pg("plan", "big.yaml")  # (piped)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("critical path (*): "))
    path = [lines[at]] + [x for x in lines[at + 1 :] if x.startswith(" " * 19)]
    assert len(path) <= 3 and all(len(line) <= 80 for line in path), path
    said = " ".join(" ".join(path).split()).removeprefix("critical path (*): ")
    assert said.startswith("step-0000 -> step-0001 -> "), said
    assert said.endswith(" -> step-0298 -> step-0299"), said
    assert "-> ... " in said and " more ... ->" in said, said
    left = int(said.split("... ")[1].split(" more")[0])
    assert left + said.count("step-") == CHAIN, said  # (every task named or counted)
    whole = json.loads(pg("plan", "big.yaml", "--json").stdout)["critical_path"]
    assert whole == [f"step-{i:04d}" for i in range(CHAIN)]
