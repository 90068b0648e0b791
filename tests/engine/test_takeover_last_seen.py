"""A take-over records the dead engine's last sign of life as its newest event when that came
after its last heartbeat (written every few seconds): the performance report counted the work
done since that heartbeat as time the engine was down (a run killed before its first heartbeat:
everything before the kill)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from phasegate.engine.store.base import RunRow

from .helpers import ScriptedExecutor, write_plan

PLAN = """
name: seen
agents: {sh: {slots: 1}}
phases:
  - id: a
    tasks:
      - {id: one, agent: sh, run: "true"}
      - {id: two, agent: sh, run: "true", needs: [one]}
"""
RUN = "seen-run"
T0 = 1_700_000_000.0


async def test_the_dead_engines_newest_event_is_its_last_sign_of_life(tmp_path: Path) -> None:
    plan = load_plan(str(write_plan(tmp_path, PLAN)))
    store = MemoryStore()
    text = (tmp_path / "plan.yaml").read_text()
    await store.create_run(RunRow(RUN, "seen", str(tmp_path / "plan.yaml"), "running", T0))
    await store.save_plan(RUN, text, {})
    gone = subprocess.Popen(["true"])
    gone.wait()
    await store.acquire_lease(RUN, gone.pid, T0, T0, lambda *_: False)  # (heartbeat: T0)
    tasks = [
        {"id": "one", "phase": "a", "agent": "sh", "needs": []},
        {"id": "two", "phase": "a", "agent": "sh", "needs": ["one"]},
    ]
    agents = [{"id": "sh", "slots": 1, "capabilities": []}]
    recorded: list[ev.Event] = [
        ev.RunStarted(T0, RUN, "seen", "plan.yaml", [{"id": "a"}], tasks, agents),
        ev.PhaseStarted(T0, "a"),
        ev.TaskStarted(T0 + 0.1, "one", 1, "sh", 0, 0),
        ev.TaskFinished(T0 + 1.5, "one", 1, "succeeded", 0),
    ]
    await store.write_batch(RUN, list(enumerate(recorded, 1)))
    runner = Runner(
        plan,
        store,
        RUN,
        run_dir=str(tmp_path / "runs" / RUN),
        executor=ScriptedExecutor(),  # type: ignore[arg-type]
        resume={},
    )
    await runner.run()
    stored = [e for _, e in await store.read_events(RUN)]
    recovered = next(e for e in stored if isinstance(e, ev.RunRecovered))
    assert recovered.last_seen == T0 + 1.5  # (not the heartbeat, T0)
