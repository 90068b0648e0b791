"""Make tests/tui/data/delivery.jsonl: a deterministic recording of a run, for snapshot tests.

    python -m tests.tui.make_recording      (from the project root)

The run is the shipped delivery plan on a scripted executor with a fake clock, so that every
time in the recording is fixed; `record_run` writes it as JSON Lines (see tests/fixtures.py).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from phasegate.engine.model.identity import current_identity
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from tests.engine.helpers import ScriptedExecutor
from tests.fixtures import record_run

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).parent / "data" / "delivery.jsonl"
T0 = 1_790_000_000.0  # 2026-09-21, a fixed start


class Tick:
    """A clock that moves 0.7 s every time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 0.7
        return self.now


async def main() -> None:
    plan = load_plan(str(ROOT / "plans" / "delivery.yaml"))
    plan.place(path="plans/delivery.yaml")
    with tempfile.TemporaryDirectory() as workdir:
        plan.place(
            base_dir=workdir
        )  # the scripted executor runs nothing: make the declared outputs
        for _, task in plan.tasks():
            for out in task.outputs:
                path = Path(workdir, ".delivery-work", out.replace("{release}", "0.0.0"))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("x")
        store = MemoryStore()
        fake = ScriptedExecutor(
            codes={"deploy-staging": [1, 0], "write-docs": [2], "e2e-tests": [1]}
        )
        runner = Runner(plan, store, "rec0001", run_dir=workdir, executor=fake, clock=Tick())
        await runner.run()
    text = await record_run(store, "rec0001")
    who = current_identity()
    text = text.replace(f'"{who.host}"', '"buildbox"').replace(f'"{who.user}"', '"ops"')
    OUT.write_text(text.replace(f'"{ROOT}/', '"'))


if __name__ == "__main__":
    asyncio.run(main())
