"""Throughput: `phasegate run --headless` against GNU `make -j2` on the same DAG, in the same run.

Workloads (every task runs `true`; one agent with 2 slots; every event persisted):
  - 2,000 tasks in a layered DAG of 40 layers of 50, each task needing 2 random tasks of the
    layer before (the DAG of PERFORMANCE.md);
  - a chain of 500 tasks, each needing the one before.

Each phasegate run is the whole `phasegate run PLAN --headless -q --db TMP` process, as a user
meets it. make runs a generated Makefile of phony targets whose recipes run `true`. Runs are
interleaved (make, phasegate, make, phasegate, ...) and the best of each is kept: the machine is
shared, so only the ratio of figures measured together means anything.

The target (issue 21) is on the whole process from cold, as a user meets it: make's time over
phasegate's, start-up, loading the plan, every event persisted and the end-of-run reports
included: at least 0.6x make on both workloads. Beside it, the floor of the design timed the same
way: `python bench/floor.py --once` (one asyncio loop spawning the same number of `true` two at a
time, no store, no events, no scheduler), a whole process from cold in the same run; the goal
beyond the target is phasegate at 0.9x of that floor. The figure after start-up (the run's time
less `phasegate run` of a one-task plan) is printed too, as the foundation's issue measured it.

A run that exits non-zero keeps its stderr in a file (`failed-runs/` of the work directory, which
is then kept), and the path is printed: such runs are counted as problems, never as times.

After every phasegate run, `phasegate show last --json` must report every task succeeded, in an
order that respects `needs` (by started_at), with the events in the database.

Usage: python bench/throughput.py [--quick] [--repeat N] [--keep] [--strict]
Exits 0 whatever the figures (it prints OK/FAIL against the targets) unless --strict.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _dag
from _procs import find_phasegate

TARGET_RATIO = 0.6  # make's time over phasegate's, whole processes from cold, at least
FLOOR_GOAL = 0.9  # phasegate over the floor of its design (floor.py --once), from cold too
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Outcome:
    """What one workload measured and found."""

    name: str
    tasks: int
    make_times: list[float] = field(default_factory=list)
    pg_times: list[float] = field(default_factory=list)
    floor_times: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    @property
    def make_best(self) -> float:
        return min(self.make_times)

    @property
    def pg_best(self) -> float:
        return min(self.pg_times) if self.pg_times else float("inf")

    @property
    def ratio(self) -> float:
        return self.make_best / self.pg_best

    @property
    def floor_best(self) -> float:
        return min(self.floor_times) if self.floor_times else float("inf")


def timed(argv: list[str], cwd: str) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start, proc


def verify(pg: str, db: str, dag: _dag.Dag) -> tuple[str | None, int]:
    """Check the recorded run: every task succeeded, in an order that respects needs.
    Returns (problem or None, number of events in the database)."""
    proc = subprocess.run(
        [pg, "show", "last", "--json", "--db", db], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return f"`phasegate show last --json` exited {proc.returncode}: {proc.stderr.strip()}", 0
    data = json.loads(proc.stdout)
    tasks = {t["id"]: t for t in data["tasks"]}
    n = len(dag["tasks"])
    if data["status"] != "succeeded":
        return f"run status {data['status']!r} ({data.get('reason') or 'no reason'})", 0
    bad = [t["id"] for t in tasks.values() if t["status"] != "succeeded"]
    if bad or len(tasks) != n:
        return f"{n - len(bad)}/{n} tasks succeeded (e.g. {bad[:3]})", 0
    plan_index = {name: i for i, (name, _) in enumerate(dag["tasks"])}
    order = sorted(tasks, key=lambda t: (tasks[t]["started_at"], plan_index[t]))
    problem = _dag.check_order(dag, order)
    if problem:
        return problem, 0
    for name, deps in dag["tasks"]:
        for d in deps:
            if tasks[d]["finished_at"] > tasks[name]["started_at"]:
                return f"task {name} started before its dependency {d} finished", 0
    events = count_events(db)
    if events is not None and events < 3 * n:
        return f"only {events} events persisted for {n} tasks (expected at least {3 * n})", events
    return None, events or 0


def count_events(db: str) -> int | None:
    """Events persisted in the database (None if the schema is not what this script expects)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return None


def run_workload(
    name: str, dag: _dag.Dag, repeat: int, pg: str, make: str, root: str, at_once: int = 2
) -> Outcome:
    """`at_once`: how many of its tasks can run at a time (the floor runs that many)."""
    work = os.path.join(root, name)
    os.makedirs(work)
    plan = os.path.join(work, "plan.yaml")
    with open(plan, "w") as f:
        f.write(_dag.plan_yaml(dag, slots=2))
    with open(os.path.join(work, "Makefile"), "w") as f:
        f.write(_dag.makefile(dag))
    out = Outcome(name, len(dag["tasks"]))
    for i in range(repeat):
        seconds, proc = timed([make, "-s", "-j2", "-f", "Makefile"], work)
        if proc.returncode != 0:
            out.problems.append(f"make exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
        out.make_times.append(seconds)
        floor = [sys.executable, os.path.join(HERE, "floor.py"), "--once"]
        seconds, proc = timed([*floor, "--tasks", str(out.tasks), "--slots", str(at_once)], work)
        if proc.returncode == 0:
            out.floor_times.append(seconds)
        db = os.path.join(work, f"db{i}", "phasegate.db")  # a fresh database for every run
        argv = [pg, "run", plan, "--headless", "-q", "--db", db]
        seconds, proc = timed(argv, work)
        if proc.returncode != 0:
            kept = keep_failure(root, name, i, argv, proc)
            out.problems.append(f"phasegate run exited {proc.returncode}: its stderr is in {kept}")
            continue
        out.pg_times.append(seconds)
        problem, events = verify(pg, db, dag)
        out.events.append(events)
        if problem:
            out.problems.append(problem)
    return out


def keep_failure(root: str, name: str, i: int, argv: list[str], proc: Any) -> str:
    """Write a failed run's command line and whole stderr to a file; its path."""
    folder = os.path.join(root, "failed-runs")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}-{i}.log")
    with open(path, "w") as f:
        f.write(f"$ {' '.join(argv)}\nexit {proc.returncode}\n")
        f.write(proc.stderr.decode(errors="replace"))
    return path


def fresh_bytecode() -> None:
    """Compile phasegate's sources, as an installed wheel has them: with
    PYTHONDONTWRITEBYTECODE set (containers, CI) an editable install would compile every module
    at every start-up, a cost no installed user pays."""
    here = Path(__file__).resolve().parent.parent
    for package in ("engine", "tui"):
        compileall.compile_dir(str(here / package), quiet=1)
    compileall.compile_dir(str(here / "src" / "phasegate"), maxlevels=0, quiet=1)  # (not links)


def startup(pg: str, root: str, repeat: int) -> float:
    """Best time of `phasegate run` on a one-task plan: the fixed cost in every figure above."""
    work = os.path.join(root, "startup")
    os.makedirs(work)
    plan = os.path.join(work, "plan.yaml")
    with open(plan, "w") as f:
        f.write(_dag.plan_yaml(_dag.chain(1), slots=2))
    best = float("inf")
    for i in range(repeat):
        db = os.path.join(work, f"db{i}", "phasegate.db")
        seconds, proc = timed([pg, "run", plan, "--headless", "-q", "--db", db], work)
        if proc.returncode == 0:
            best = min(best, seconds)
    return best


def figures(tasks: int, seconds: float) -> str:
    return (
        f"{seconds:7.3f} s  {tasks / seconds:7.0f} tasks/s  {1000 * seconds / tasks:6.3f} ms/task"
    )


def runs(times: list[float]) -> str:
    return " ".join(f"{t:.3f}" for t in times)


def report(o: Outcome, shape: str, fixed: float) -> bool:
    """Print one workload's figures; True when it meets the target and is correct."""
    print(f"\n{o.name}: {o.tasks} tasks, {shape}, 1 agent x 2 slots, best of {len(o.make_times)}")
    mk = o.make_best
    print(f"  make -j2    {figures(o.tasks, mk)}   (runs: {runs(o.make_times)})")
    if not o.pg_times:
        print("  phasegate   did not complete a run")
        for p in o.problems:
            print(f"    {p}")
        print("  FAIL: no phasegate figure")
        return False
    pg = o.pg_best
    extra = 1000 * (pg - mk) / o.tasks
    print(f"  phasegate   {figures(o.tasks, pg)}   (runs: {runs(o.pg_times)})")
    if o.floor_times:
        print(f"  floor       {figures(o.tasks, o.floor_best)}   (runs: {runs(o.floor_times)})")
    ok_ratio = o.ratio >= TARGET_RATIO
    print(
        f"  from cold   {o.ratio:.2f}x make (target >= {TARGET_RATIO}x)  "
        f"{'OK' if ok_ratio else 'FAIL'}   whole processes: start-up, plan, events, reports"
    )
    if o.floor_times:
        of_floor = o.floor_best / pg
        print(
            f"  vs floor    {of_floor:.2f}x the floor (goal >= {FLOOR_GOAL}x; the floor is "
            f"{mk / o.floor_best:.2f}x make)   floor.py --once: asyncio + posix_spawn, from cold"
        )
    working = pg - fixed
    steady = 1000 * working / o.tasks if working > 0 else float("nan")
    rate = mk / working if working > 0 else 0.0
    print(f"  overhead    {extra:+.3f} ms/task over make")
    print(
        f"  per task    {steady:.3f} ms/task after phasegate's start-up "
        f"({fixed:.3f} s: `phasegate run` of a one-task plan); {rate:.2f}x make once started"
    )
    if o.problems:
        print(f"  correctness FAIL ({len(o.problems)} problems)")
        for p in o.problems[:5]:
            print(f"    {p}")
    else:
        ev = f", {min(o.events)} events persisted per run" if o.events else ""
        print(
            f"  correctness OK: {len(o.pg_times)} runs, all {o.tasks} tasks succeeded, "
            f"start order respects needs{ev}"
        )
    return ok_ratio and not o.problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller DAGs (500 and 100 tasks)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the plans, Makefiles and databases")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target or check fails")
    args = ap.parse_args()

    make = shutil.which("make")
    if make is None:
        print("bench: GNU make is not on PATH; it is the baseline. FAIL (not measured)")
        return 1 if args.strict else 0
    pg = find_phasegate()
    fresh_bytecode()
    layers, width, length = (20, 25, 100) if args.quick else (40, 50, 500)
    root = tempfile.mkdtemp(prefix="phasegate-bench-")
    print(f"throughput: phasegate ({pg}) vs {make} -j2; {os.cpu_count()} CPUs; workdir {root}")
    try:
        fixed = startup(pg, root, args.repeat)
        layered = run_workload("layered", _dag.layered(layers, width), args.repeat, pg, make, root)
        ok = report(layered, f"{layers} layers of {width}, 2 needs each", fixed)
        chain = run_workload("chain", _dag.chain(length), args.repeat, pg, make, root, at_once=1)
        ok = report(chain, "each needing the one before", fixed) and ok
    finally:
        if args.keep or os.path.isdir(os.path.join(root, "failed-runs")):
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nthroughput: {'OK' if ok else 'FAIL'}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
