"""Cost of one tick of the risk rules, and of the ETA, on a 10,000-task run in progress.

Targets (DECISIONS.md): risk rules < 5 ms a tick; the forecast (a simulation of the work left
on the agents' slots, engine/forecast.py) < 50 ms. Printed beside a baseline measured in the
same run: one plain pass over the run's tasks, the least any rule over every task could cost.

    python bench/risks.py [--tasks N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply, project
from phasegate.engine.plan.convert import parse
from phasegate.engine.plan.dag import build as build_graph
from phasegate.engine.plan.model import Plan, RiskSettings
from phasegate.engine.plan.scheduler import Scheduler
from phasegate.engine.watch.forecast import forecast
from phasegate.engine.watch.risks import changes, findings


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
    plan = parse(
        Plan,
        {
            "name": "bench",
            "agents": {f"a{k}": {"slots": 16, "capabilities": ["x"]} for k in range(4)},
            "phases": [
                {
                    "id": f"p{k}",
                    "timebox": 600,
                    "tasks": [
                        {"id": t["id"], "run": "true", "capability": "x", **_spec(t)}
                        for t in tasks[k * per : (k + 1) * per]
                    ],
                }
                for k in range(phases)
            ],
        },
    )
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
    return plan, state


def _spec(t: dict) -> dict:
    return {"estimate": t["estimate"], "needs": t["needs"]}


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
    plan, state = build(args.tasks)
    graph = build_graph(plan)
    template = Scheduler.for_plan(plan, graph)  # built once per run, as the runner does
    rules = parse(RiskSettings, {})
    last = {f"t{i}": 5.0 for i in range(64)}

    def baseline() -> None:
        sum(1 for t in state.tasks.values() if t.status.terminal)

    def tick() -> None:
        changes(state, 30.0, findings(state, 30.0, last, rules))

    lengths: dict[tuple[object, ...], float] = {}  # the runner's cache of phases not started

    def cold() -> None:  # the first forecast of a run, or the first after a slot change
        forecast(plan, graph, state, 30.0, template, cache={})

    def eta() -> None:  # every later one: the phases not started come from the cache
        forecast(plan, graph, state, 30.0, template, cache=lengths)

    base = statistics.median(timed(baseline, args.repeat))
    risk = statistics.median(timed(tick, args.repeat))
    first = statistics.median(timed(cold, max(args.repeat // 5, 3)))
    fore = statistics.median(timed(eta, max(args.repeat // 5, 3)))
    ok_r, ok_f = risk < 5.0, fore < 50.0 and first < 50.0
    print(f"risks: {args.tasks} tasks, 64 running, median of {args.repeat}")
    print(f"  baseline (one pass over the tasks) {base:7.3f} ms")
    print(
        f"  risk rules, one tick               {risk:7.3f} ms  ({risk / base:.2f}x baseline; "
        f"target < 5 ms)  {'OK' if ok_r else 'FAIL'}"
    )
    print(
        f"  forecast, first of a run           {first:7.3f} ms  ({first / base:.2f}x baseline; "
        f"target < 50 ms)  {'OK' if first < 50.0 else 'FAIL'}"
    )
    print(
        f"  forecast, each second after        {fore:7.3f} ms  ({fore / base:.2f}x baseline; "
        f"target < 50 ms)  {'OK' if fore < 50.0 else 'FAIL'}"
    )
    print(f"risks: {'OK' if ok_r and ok_f else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
