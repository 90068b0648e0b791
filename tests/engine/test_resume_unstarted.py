"""A run whose start never reached the disk (its engine killed right after it took the run, or
the first batch lost to a full disk) is taken over from its start: the processes its engine
left are stopped, the run starts again from the kept plan, and what may have run runs again as
a new attempt. Regression: every `resume` of such a run ended in `KeyError: 'a'` (Course.run
read the phases of a fold that had none) and the dead engine's `slow` ran on to its end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.exec.adopt import Journal
from phasegate.engine.logline import log_line
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import StoreError
from phasegate.engine.model.events import Event
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore
from phasegate.engine.store.base import OutputDrop, OutputLine, RunRow

from .helpers import ScriptedExecutor, write_plan

PLAN = """
name: dur5
agents: {sh: {slots: 4}}
phases:
  - id: a
    tasks:
      - {id: quick, agent: sh, run: "true"}
      - {id: slow, agent: sh, run: "sleep 5"}
"""
# unique: each xdist worker runs one of the two cases at once, and the takeover finds a run's
# processes machine-wide by their PHASEGATE_RUN_ID (a shared id stopped the other case's `slow`)
RUN = f"dead5-{uuid.uuid4().hex[:8]}"
CREATED = 1_700_000_000.0


def _sleeper(task: str, attempt: int, run: str = RUN) -> subprocess.Popen[bytes]:
    """A process of the dead engine's run, as its executor spawned it (its own group)."""
    env = dict(os.environ, PHASEGATE_RUN_ID=run, PHASEGATE_TASK=task)
    env["PHASEGATE_ATTEMPT"] = str(attempt)
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True
    )


@pytest.fixture
def leftovers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


async def _dead_run(tmp_path: Path, store: MemoryStore, recorded: Sequence[Event] = ()) -> str:
    """What a `run` killed before its first batch leaves: the run's row, its kept plan and its
    lease (an engine that is gone), and `recorded` events; returns the run directory."""
    text = (tmp_path / "plan.yaml").read_text()
    row = RunRow(RUN, "dur5", str(tmp_path / "plan.yaml"), "pending", CREATED, user="ann")
    await store.create_run(row)
    await store.save_plan(RUN, text, {})
    gone = subprocess.Popen(["true"])
    gone.wait()
    await store.acquire_lease(RUN, gone.pid, CREATED, CREATED, lambda *_: False)
    if recorded:
        await store.write_batch(RUN, list(enumerate(recorded, 1)))
    run_dir = tmp_path / "runs" / RUN
    journal = Journal(str(run_dir))  # (written just before each spawn: it outlives the kill)
    journal.note("quick", 1)
    journal.note("slow", 1)
    journal.close()
    return str(run_dir)


@pytest.mark.parametrize(
    "recorded",
    ["nothing", "a failed resume's run.recovered"],  # (what the old code's resume then left)
)
async def test_a_run_whose_start_never_reached_the_disk_is_taken_over_from_its_start(
    tmp_path: Path, leftovers: list[subprocess.Popen[bytes]], recorded: str
) -> None:
    plan = load_plan(str(write_plan(tmp_path, PLAN)))
    store = MemoryStore()
    events = [ev.RunRecovered(CREATED + 1, "root", 1, CREATED, [])] if recorded != "nothing" else []
    run_dir = await _dead_run(tmp_path, store, events)
    slow = _sleeper("slow", 1)
    stray = _sleeper("renamed", 1)  # (a task the plan does not know: its run id finds it)
    other = _sleeper("slow", 1, run="another-run")
    leftovers += [slow, stray, other]
    lines: list[Event] = []
    executor = ScriptedExecutor()
    runner = Runner(
        plan,
        store,
        RUN,
        run_dir=run_dir,
        executor=executor,  # type: ignore[arg-type]
        resume={},
        listeners=[lines.append],
    )
    state = await runner.run()

    assert state.status is RunStatus.SUCCEEDED, state.reason
    assert slow.wait(timeout=10) == -15 and stray.wait(timeout=10) == -15  # TERM to the groups
    assert other.poll() is None  # another run's process is not touched
    assert sorted(executor.started) == ["quick", "slow"]
    assert {t.id: (t.status, t.attempts) for t in state.tasks.values()} == {
        "quick": (TaskStatus.SUCCEEDED, 2),  # attempt 1 may have run: this is attempt 2
        "slow": (TaskStatus.SUCCEEDED, 2),
    }
    stored = [e for _, e in await store.read_events(RUN)]
    started = [e for e in stored if isinstance(e, ev.RunStarted)]
    assert len(started) == 1 and started[0].ts == CREATED and started[0].user == "ann"
    assert [p["id"] for p in started[0].phases] == ["a"]  # (from the kept plan)
    recovered = [e for e in stored if isinstance(e, ev.RunRecovered)][-1]
    assert stored.index(recovered) > stored.index(started[0])
    by_task = {str(t["task"]): t for t in recovered.tasks}
    assert set(by_task) == {"quick", "slow"}
    assert by_task["slow"]["pids"] == [slow.pid] and by_task["quick"]["pids"] == []
    for entry in by_task.values():
        assert entry["action"] == "rerun" and entry["attempt"] == 1
        note = str(entry["note"])
        assert "never reached the disk" in note and "may have run" in note
    said = [line for e in lines if (line := log_line(e, RUN)) is not None]
    assert any("quick attempt 1: rerun (its start never reached the disk" in s for s in said)


class _Committed(MemoryStore):
    """A store that says which event types each batch committed."""

    def __init__(self) -> None:
        super().__init__()
        self.committed: list[str] = []

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        await super().write_batch(run_id, events, output, drops, summary)
        self.committed += [e.type for _, e in events]


class _Watching(ScriptedExecutor):
    """Notes, at each spawn, what the store had committed by then."""

    def __init__(self, store: _Committed) -> None:
        super().__init__()
        self.store = store
        self.seen: list[list[str]] = []

    def start(self, spec: Any, on_line: Any, on_exit: Any) -> Any:
        self.seen.append(list(self.store.committed))
        return super().start(spec, on_line, on_exit)


async def test_the_run_s_start_is_committed_before_its_first_task_is_spawned(
    tmp_path: Path,
) -> None:
    plan = load_plan(str(write_plan(tmp_path, PLAN)))
    store = _Committed()
    executor = _Watching(store)
    state = await Runner(plan, store, "r", executor=executor).run()  # type: ignore[arg-type]
    assert state.status is RunStatus.SUCCEEDED
    assert executor.seen and "run.started" in executor.seen[0]


class _FullAtFirst(MemoryStore):
    """A store whose first batch fails, as on a full disk."""

    def __init__(self) -> None:
        super().__init__()
        self.full = True

    async def write_batch(
        self,
        run_id: str,
        events: Sequence[tuple[int, Event]],
        output: Sequence[OutputLine] = (),
        drops: Sequence[OutputDrop] = (),
        summary: dict[str, Any] | None = None,
    ) -> None:
        if self.full:
            raise StoreError("database or disk is full; free space and `phasegate resume`")
        await super().write_batch(run_id, events, output, drops, summary)


async def test_a_run_whose_first_batch_was_lost_spawned_nothing_and_is_resumed_from_its_start(
    tmp_path: Path,
) -> None:
    plan = load_plan(str(write_plan(tmp_path, PLAN)))
    store = _FullAtFirst()
    first = ScriptedExecutor()
    run_dir = str(tmp_path / "runs" / "r")
    with pytest.raises(StoreError, match="disk is full"):
        await Runner(plan, store, "r", run_dir=run_dir, executor=first).run()  # type: ignore[arg-type]
    assert first.started == []  # (its start was not on disk: no task was spawned)
    assert await store.read_events("r") == []
    await store.release_lease("r", os.getpid())  # (as when that engine's process ends)
    store.full = False
    again = ScriptedExecutor()
    state = await Runner(plan, store, "r", run_dir=run_dir, executor=again, resume={}).run()  # type: ignore[arg-type]
    assert state.status is RunStatus.SUCCEEDED, state.reason
    assert sorted(again.started) == ["quick", "slow"]
    assert {t.id: t.attempts for t in state.tasks.values()} == {"quick": 1, "slow": 1}
