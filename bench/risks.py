"""Cost of one tick of the risk rules, and of the ETA, on a 10,000-task run in progress.

Targets (DECISIONS.md): risk rules < 5 ms a tick; the forecast (today the ETA from estimates)
< 50 ms. Printed beside a baseline measured in the same run: one plain pass over the run's
tasks, the least any rule over every task could cost.

    python bench/risks.py [--tasks N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import events as ev
from engine.forecast import remaining_seconds
from engine.plan.model import RiskSettings
from engine.risks import changes, findings
from engine.state import apply, project


def build(n: int, phases: int = 10, running: int = 64):
    per = n // phases
    tasks = [
        {
            "id": f"t{i}",
            "phase": f"p{i // per}",
            "estimate": 5.0 + i % 7,
            "needs": [f"t{i - 1}"] if i % per and i % 3 else [],
        }
        for i in range(n)
    ]
    state = project(
        [
            ev.RunStarted(
                0.0,
                "r",
                "bench",
                "b.yaml",
                [{"id": f"p{k}", "timebox": 600.0} for k in range(phases)],
                tasks,
                [{"id": f"a{k}", "slots": 16} for k in range(4)],
            ),
            ev.PhaseStarted(0.0, "p0"),
        ]
    )
    for i in range(running):
        apply(state, ev.TaskStarted(0.0, f"t{i}", 1, f"a{i % 4}", 1000 + i, 1000 + i))
    for i in range(running, running + per // 2):
        apply(state, ev.TaskStarted(0.0, f"t{i}", 1, "a0", 1, 1))
        apply(state, ev.TaskFinished(1.0, f"t{i}", 1, "succeeded" if i % 9 else "failed", 0))
    return state


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    state = build(args.tasks)
    rules = RiskSettings.model_validate({})
    last = {f"t{i}": 5.0 for i in range(64)}

    def baseline() -> None:
        sum(1 for t in state.tasks.values() if t.status.terminal)

    def tick() -> None:
        changes(state, 30.0, findings(state, 30.0, last, rules))

    def eta() -> None:
        remaining_seconds(state, 30.0)

    base = statistics.median(timed(baseline, args.repeat))
    risk = statistics.median(timed(tick, args.repeat))
    fore = statistics.median(timed(eta, max(args.repeat // 5, 3)))
    ok_r, ok_f = risk < 5.0, fore < 50.0
    print(f"risks: {args.tasks} tasks, 64 running, median of {args.repeat}")
    print(f"  baseline (one pass over the tasks) {base:7.3f} ms")
    print(
        f"  risk rules, one tick               {risk:7.3f} ms  ({risk / base:.2f}x baseline; "
        f"target < 5 ms)  {'OK' if ok_r else 'FAIL'}"
    )
    print(
        f"  ETA from estimates                 {fore:7.3f} ms  ({fore / base:.2f}x baseline; "
        f"target < 50 ms)  {'OK' if ok_f else 'FAIL'}"
    )
    print(f"risks: {'OK' if ok_r and ok_f else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
