"""Attach: the first screen of a 200,000-event run, against the first screen of an empty run.

Three runs of one generated plan (2,000 tasks in 10 phases) are written into a fresh database:
  - empty: only its run.started (the baseline: the same plan, nothing happened yet);
  - long: 200,000 events (every task ready, started, finished; risk raises and clears, notes,
    slot changes), with the snapshot the engine keeps every SNAPSHOT_EVERY events, placed so
    that SNAPSHOT_EVERY - 1 events follow it (the worst case for attach);
  - unsnapshotted: the same 200,000 events without a snapshot (what attach cost before).
For each, `phasegate attach RUN` is started in tmux at 80x24 and timed until its first screen
shows the header (run id and status) and the task table; best of N, interleaved.

Targets (issue and DECISIONS.md): the long run's first screen in under 1 s, and within 0.5 s of
the empty run's.

    python bench/attach.py [--events N] [--tasks N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _procs import Tmux, find_phasegate

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.model.snapshot import SNAPSHOT_EVERY, dump, snapshot_format
from phasegate.engine.model.state import RunState
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.base import RunRow

TARGET_FIRST = 1.0
TARGET_OVER_EMPTY = 0.5


def plan_events(run_id: str, tasks: int, total: int, t0: float) -> list[ev.Event]:
    phases = 10
    per = max(1, tasks // phases)
    started = ev.RunStarted(
        t0,
        run_id,
        "attach-bench",
        "bench.yaml",
        phases=[{"id": f"p{i}", "title": f"phase {i}", "timebox": 600.0} for i in range(phases)],
        tasks=[
            {"id": f"t{i}", "phase": f"p{min(i // per, phases - 1)}", "agent": "w", "estimate": 5}
            for i in range(tasks)
        ],
        agents=[{"id": "w", "slots": 4}, {"id": "v", "slots": 2}],
    )
    events: list[ev.Event] = [started]
    clock = t0
    i = 0
    while len(events) < total:
        clock += 0.01
        if i < tasks:
            tid = f"t{i}"
            if i % per == 0:
                events.append(ev.PhaseStarted(clock, f"p{i // per}"))
            events += [
                ev.TaskReady(clock, tid),
                ev.TaskStarted(clock, tid, 1, "w", 10_000 + i, 10_000 + i, "true"),
                ev.TaskFinished(clock + 0.5, tid, 1, "succeeded", 0, 3),
            ]
        key = f"silent:t{i % 500}"
        events += [
            ev.RiskRaised(clock, key, "silent", "low", f"task t{i % 500}", "quiet for 30s"),
            ev.RiskCleared(clock + 0.2, key),
        ]
        if i % 100 == 0:
            events.append(ev.RunNoted(clock, f"note {i}", "bench"))
            events.append(ev.AgentSlotsChanged(clock, "w", 4 + i % 3, "bench"))
        i += 1
    return events[:total]


async def write(db: str, tasks: int, total: int) -> dict[str, str]:
    store = await SQLiteStore.open(db)
    now = time.time()
    ids = {"empty": "e0000000", "long": "l0000000", "unsnapshotted": "u0000000"}
    try:
        for kind, run_id in ids.items():
            events = plan_events(run_id, tasks, 1 if kind == "empty" else total, now)
            await store.create_run(RunRow(run_id, "attach-bench", "bench.yaml", "running", now))
            batch = 20_000
            for start in range(0, len(events), batch):
                chunk = list(enumerate(events[start : start + batch], start + 1))
                await store.write_batch(run_id, chunk)
            if kind == "long":
                # the newest snapshot the engine would have written, the most events after it
                at = ((len(events) - SNAPSHOT_EVERY) // SNAPSHOT_EVERY) * SNAPSHOT_EVERY + 1
                state = RunState()
                for e in events[:at]:
                    apply(state, e)
                await store.save_snapshot(run_id, at, snapshot_format(), dump(state))
            # no live engine here: finished, so that no dashboard offers to take it over
            await store.write_batch(run_id, [], summary={"finished_at": now + 1})
    finally:
        await store.close()
    return ids


def first_screen(tmux: Tmux, phasegate: str, db: str, run_id: str, n: int) -> float:
    name = f"attach{n}"
    cmd = f"env PHASEGATE_DB={shlex.quote(db)} TERM=xterm-256color {phasegate} attach {run_id}"
    t0 = time.perf_counter()
    error = tmux.new_session(name, "80x24", cmd + "; sleep 60")
    if error:
        raise SystemExit(f"tmux: {error}")
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        screen = tmux.screen(name)
        if run_id in screen and "Tasks" in screen and " t0 " in screen:
            took = time.perf_counter() - t0
            break
        time.sleep(0.01)
    else:
        raise SystemExit(f"no first screen for run {run_id} within 60 s:\n{tmux.screen(name)}")
    tmux("kill-session", "-t", name)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    phasegate = find_phasegate()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "attach.db")
        t = time.perf_counter()
        ids = asyncio.run(write(db, args.tasks, args.events))
        took = time.perf_counter() - t
        print(f"wrote 3 runs ({args.events:,} events but the empty one) in {took:.1f}s")
        tmux = Tmux()
        best = {kind: float("inf") for kind in ids}
        # a session kept for the whole bench: the server must not exit as each measured session
        # is killed (a new session asked of a server on its way out fails, "server exited")
        if error := tmux.new_session("keep", "80x24", "sleep 3600"):
            raise SystemExit(f"tmux: {error}")
        try:
            for n in range(args.repeat):
                for kind, run_id in ids.items():
                    best[kind] = min(best[kind], first_screen(tmux, phasegate, db, run_id, n))
        finally:
            tmux.kill_server()
    over = best["long"] - best["empty"]
    for kind in ids:
        ratio = best[kind] / best["empty"]
        print(f"  first screen, {kind:<14} {best[kind]:.3f}s  ({ratio:.2f}x empty)")
    ok = best["long"] < TARGET_FIRST and over < TARGET_OVER_EMPTY
    print(
        f"attach {args.events:,} events: {best['long']:.3f}s, {over:+.3f}s over an empty run "
        f"(targets < {TARGET_FIRST:g}s and < +{TARGET_OVER_EMPTY:g}s): {'OK' if ok else 'FAIL'}; "
        f"without a snapshot {best['unsnapshotted']:.3f}s (one every {SNAPSHOT_EVERY:,} events)"
    )


if __name__ == "__main__":
    main()
