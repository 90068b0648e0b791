"""Start-up: `phasegate run` of a one-task plan and `phasegate --help`, as whole processes.

Measured, interleaved, in the same run (each a fresh process; the median of N kept):
  - `python -c pass`: the interpreter of the venv alone (the floor: nothing of phasegate);
  - `python -c 'import sqlite3, asyncio'`: the two standard modules any run needs (a second
    baseline: what start-up costs before phasegate's own code and its libraries);
  - `phasegate --help`: click and the command table. **Target: at most 0.08 s**;
  - `phasegate run PLAN --headless -q --db TMP` of a one-task plan (one agent, one phase, one
    task running `true`), each on a fresh database: imports, loading and validating the plan,
    creating the store, the task, every event persisted, the end-of-run reports written.
    **Target: at most 0.12 s**.

Each run must exit 0 (the run must succeed); a failed run's stderr is printed. The machine is
shared, so read the figures beside the baselines: on a loaded machine the baselines grow too.
Besides wall time, the CPU time (user + system) of each process is printed: it is less sensitive
to other processes competing for the cores. The sources are compiled first, as an installed
wheel has them (PYTHONDONTWRITEBYTECODE would otherwise make every start-up compile them).

To see where the time goes:
    python -X importtime .venv/bin/phasegate run PLAN --headless -q --db /tmp/x.db 2> imports.txt
    python -m cProfile -s cumtime .venv/bin/phasegate run PLAN --headless -q --db /tmp/x.db

Usage: python bench/startup.py [--quick] [--repeat N] [--keep] [--strict]
Exits 0 whatever the figures (it prints OK/FAIL against the targets) unless --strict.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _procs import find_phasegate

TARGET_RUN = 0.12  # s, `phasegate run` of a one-task plan
TARGET_HELP = 0.08  # s, `phasegate --help`

PLAN = """\
name: one
agents: {w: {}}
phases: [{id: p, tasks: [{id: t, run: "true"}]}]
"""


@dataclass
class Figure:
    """The times of one command, run again and again."""

    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall) if self.wall else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")


def fresh_bytecode() -> None:
    """Compile phasegate's sources, as an installed wheel has them."""
    here = Path(__file__).resolve().parent.parent
    for package in ("engine", "tui"):
        compileall.compile_dir(str(here / package), quiet=1)
    compileall.compile_dir(str(here / "src" / "phasegate"), maxlevels=0, quiet=1)  # (not links)


def timed(argv: list[str], env: dict[str, str], figure: Figure) -> None:
    """Run argv once; its wall and CPU time go to `figure` (its stderr when it fails)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert proc.stderr is not None
    err = proc.stderr.read()  # (a few lines at most: -q)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        figure.failures.append(f"exit {proc.returncode}: {err.decode(errors='replace')[-800:]}")
        return
    figure.wall.append(wall)
    figure.cpu.append(usage.ru_utime + usage.ru_stime)


def line(f: Figure, base: Figure, target: float | None = None) -> str:
    text = (
        f"  {f.label:<34} {f.median * 1000:7.1f} ms  (cpu {f.cpu_median * 1000:6.1f} ms; "
        f"{f.median / base.median:5.2f}x python -c pass)"
    )
    if target is not None:
        verdict = "OK" if f.median <= target and not f.failures else "FAIL"
        text += f"  target <= {target * 1000:.0f} ms  {verdict}"
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs (5 of each)")
    ap.add_argument("--repeat", type=int, default=None, help="runs of each (default 21; quick 5)")
    ap.add_argument("--keep", action="store_true", help="keep the plan and the databases")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target or check fails")
    args = ap.parse_args()
    repeat = args.repeat or (5 if args.quick else 21)
    pg = find_phasegate()
    python = sys.executable
    fresh_bytecode()
    env = dict(os.environ)
    env.pop("PHASEGATE_DB", None)
    root = tempfile.mkdtemp(prefix="phasegate-bench-")
    plan = os.path.join(root, "plan.yaml")
    with open(plan, "w") as f:
        f.write(PLAN)

    floor = Figure("python -c pass")
    stdlib = Figure("python -c 'import sqlite3, asyncio'")
    helps = Figure("phasegate --help")
    runs = Figure("phasegate run (one task)")

    def run_argv(i: int) -> list[str]:
        db = os.path.join(root, f"db{i}", "phasegate.db")
        return [pg, "run", plan, "--headless", "-q", "--db", db]

    try:
        timed(run_argv(-1), env, Figure("warm-up"))  # (the page cache, as every later run has it)
        for i in range(repeat):
            timed([python, "-c", "pass"], env, floor)
            timed([python, "-c", "import sqlite3, asyncio"], env, stdlib)
            timed([pg, "--help"], env, helps)
            timed(run_argv(i), env, runs)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    print(f"startup: median of {repeat} runs of each, interleaved")
    print(line(floor, floor))
    print(line(stdlib, floor))
    print(line(helps, floor, TARGET_HELP))
    print(line(runs, floor, TARGET_RUN))
    print(
        f"  beyond the baselines: --help {(helps.median - floor.median) * 1000:.1f} ms over "
        f"python -c pass; run {(runs.median - stdlib.median) * 1000:.1f} ms over "
        "import sqlite3, asyncio"
    )
    ok = True
    for f in (helps, runs):
        for failure in f.failures:
            print(f"  {f.label} failed: {failure}")
        ok = ok and not f.failures and f.median <= (TARGET_HELP if f is helps else TARGET_RUN)
    print(f"startup: {'OK' if ok else 'FAIL'}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
