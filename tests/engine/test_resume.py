"""Taking over a run whose engine died: snapshots, leftovers found by environment, policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.durable.recovery import leftovers, take_over
from phasegate.engine.model import events as ev
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.fold import project
from phasegate.engine.model.snapshot import fold_run, snapshot_format
from phasegate.engine.model.statuses import TaskStatus
from phasegate.engine.plan import load_plan
from phasegate.engine.run import loop as runner_mod
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import ScriptedExecutor, run_plan, write_plan

CHAIN = """
name: chain
agents: {w: {slots: 2}}
phases:
  - id: one
    tasks:
      - {id: a, run: "true"}
      - {id: b, run: "true", needs: [a]}
  - id: two
    tasks:
      - {id: c, run: "true", needs: [b]}
      - {id: d, run: "true", needs: [c]}
"""


async def test_the_engine_keeps_snapshots_and_a_fold_from_one_equals_the_whole_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_mod, "SNAPSHOT_EVERY", 5)
    state, store = await run_plan(tmp_path, CHAIN, ScriptedExecutor())
    found = await store.latest_snapshot("run1", snapshot_format())
    assert found is not None and found[0] % 5 == 0 and found[0] > 5
    events = await store.read_events("run1")
    folded, seq = await fold_run(store, "run1")
    assert seq == events[-1][0]
    assert folded == project(e for _, e in events) == state


async def test_the_plan_text_and_variables_are_kept_with_the_run(tmp_path: Path) -> None:
    path = write_plan(tmp_path, CHAIN)
    store = MemoryStore()
    await Runner(
        load_plan(str(path)), store, "r", executor=ScriptedExecutor(), variables={"x": "1"}
    ).run()  # type: ignore[arg-type]
    assert await store.load_plan("r") == (path.read_text(), {"x": "1"})


def _sleeper(run_id: str, task: str, attempt: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PHASEGATE_RUN_ID=run_id, PHASEGATE_TASK=task)
    env["PHASEGATE_ATTEMPT"] = str(attempt)
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True
    )


async def test_a_task_whose_start_never_reached_the_disk_is_found_and_stopped(
    tmp_path: Path,
) -> None:
    # the engine died after spawning c but before its task.started was written: the fold says
    # c is ready; the process table says c's attempt 1 runs
    _, store = await run_plan(tmp_path, CHAIN, ScriptedExecutor())
    events = [e for _, e in await store.read_events("run1")]
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.TaskStarted) and e.task == "c")
    state = project(events[:cut])
    assert state.tasks["c"].status is TaskStatus.READY
    run_x = f"run-x-{uuid.uuid4().hex[:8]}"  # (found machine-wide by its id: no other test has it)
    proc = _sleeper(run_x, "c", 1)
    other = _sleeper("another-run", "c", 1)
    try:
        found = leftovers(state, run_x)
        assert [(f.task, f.attempt, f.pids) for f in found] == [("c", 1, [proc.pid])]
        entries = await take_over(state, run_x, {"c": "rerun"}, {})
        maybe = "its start never reached the disk: attempt 1 may have run"  # (said in the log)
        assert entries == [
            {"task": "c", "attempt": 1, "action": "rerun", "pids": [proc.pid], "note": maybe}
        ]
        assert proc.wait(timeout=10) == -15  # TERM to its group
        assert other.poll() is None  # another run's process is not touched
        after = project([*events[:cut], ev.RunRecovered(9e9, "me", 1, None, entries)])
        assert after.tasks["c"].status is TaskStatus.PENDING and after.tasks["c"].attempts == 1
    finally:
        for p in (proc, other):
            p.kill()
            p.wait()


async def test_a_spawned_attempt_whose_start_and_process_are_both_gone_runs_again_anew(
    tmp_path: Path,
) -> None:
    # the engine spawned c (its journal says so), c ran and ended, and the engine was killed
    # before c's task.started reached the disk: c ran again as attempt 1, a second time
    from phasegate.engine.exec.adopt import Journal

    _, store = await run_plan(tmp_path, CHAIN, ScriptedExecutor())
    events = [e for _, e in await store.read_events("run1")]
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.TaskStarted) and e.task == "c")
    state = project(events[:cut])
    journal = Journal(str(tmp_path))
    journal.note("a", 1)
    journal.note("b", 1)
    journal.note("c", 1)
    journal.close()
    found = leftovers(state, "run-gone", str(tmp_path))
    assert [(f.task, f.attempt, f.pids) for f in found] == [("c", 1, [])]
    entries = await take_over(state, "run-gone", {"c": "rerun"}, {}, run_dir=str(tmp_path))
    maybe = "its start never reached the disk: attempt 1 may have run"
    assert entries == [{"task": "c", "attempt": 1, "action": "rerun", "pids": [], "note": maybe}]
    after = project([*events[:cut], ev.RunRecovered(9e9, "me", 1, None, entries)])
    assert after.tasks["c"].attempts == 1  # so its next start is attempt 2
    assert leftovers(state, "run-gone") == []  # (what the fold alone knew)


async def test_every_spawn_is_in_the_journal_and_the_run_s_end_removes_it(tmp_path: Path) -> None:
    from phasegate.engine.exec.adopt import Journal

    seen: list[dict[str, int]] = []

    class Watching(ScriptedExecutor):
        def start(self, spec: Any, on_line: Any, on_exit: Any) -> Any:
            seen.append(Journal.read(str(tmp_path)))  # (as the spawn begins)
            return super().start(spec, on_line, on_exit)

    state, _ = await run_plan(tmp_path, CHAIN, Watching())
    assert state.status.value == "succeeded"
    assert seen == [
        {"a": 1},
        {"a": 1, "b": 1},
        {"a": 1, "b": 1, "c": 1},
        {"a": 1, "b": 1, "c": 1, "d": 1},
    ]
    assert Journal.read(str(tmp_path)) == {} and not (tmp_path / "tasks").exists()


def test_a_take_over_folds_rerun_skipped_and_adopted_tasks() -> None:
    started = ev.RunStarted(
        1.0,
        "r",
        "p",
        "p.yaml",
        phases=[{"id": "one"}],
        tasks=[{"id": t, "phase": "one"} for t in "abc"],
        agents=[{"id": "w", "slots": 3}],
    )
    running = [ev.TaskStarted(2.0, t, 1, "w", 10 + i, 10 + i) for i, t in enumerate("abc")]
    entries = [
        {"task": "a", "attempt": 1, "action": "rerun"},
        {"task": "b", "attempt": 1, "action": "skipped"},
        {"task": "c", "attempt": 1, "action": "adopted"},
    ]
    state = project([started, *running, ev.RunRecovered(5.0, "me", 99, 4.0, entries)])
    assert state.status.value == "running"
    assert state.tasks["a"].status is TaskStatus.PENDING and state.tasks["a"].pid is None
    assert state.tasks["b"].status is TaskStatus.SKIPPED
    assert state.tasks["c"].status is TaskStatus.RUNNING
    assert state.agents["w"].running == {"c"}


async def test_a_run_id_that_exists_is_never_started_again(tmp_path: Path) -> None:
    # a second engine given a finished run's id would run its succeeded tasks again
    executor = ScriptedExecutor()
    _, store = await run_plan(tmp_path, CHAIN, executor)
    started = list(executor.started)
    again = Runner(load_plan(str(write_plan(tmp_path, CHAIN))), store, "run1", executor=executor)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="run run1 exists already"):
        await again.run()
    assert executor.started == started  # nothing ran twice


def test_clearing_a_run_s_attempt_files_goes_past_one_that_cannot_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempts' output files hold what tasks printed (secrets too): one that cannot be
    removed (gone meanwhile) does not keep the others."""
    from phasegate.engine.exec import adopt

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for name in ("a.1.out", "b.1.out", "c.1.err", "started"):
        (tasks / name).write_text("x")
    real, failed = os.unlink, []

    def flaky(path: str) -> None:
        if not failed:
            failed.append(path)
            raise FileNotFoundError(path)
        real(path)

    monkeypatch.setattr(adopt.os, "unlink", flaky)
    adopt.clear(str(tmp_path))
    assert [p.name for p in tasks.iterdir()] == [os.path.basename(failed[0])]


async def test_a_take_over_knows_what_the_plan_s_earlier_runs_taught(tmp_path: Path) -> None:
    """The engine that took over had no history: gates' expected waits were gone from its
    forecast, and budgets no longer knew what each task was expected to cost. It reads the
    history as the run's start saw it (what was recorded after its start is not its)."""
    from phasegate.engine.store.base import RunRow

    plan = load_plan(str(write_plan(tmp_path, CHAIN)))
    store = MemoryStore()
    await store.record_durations("chain", "old", 5.0, {"a": 3.0, "gate:g": 60.0, "cost:a": 0.5})
    await store.record_durations("chain", "newer", 50.0, {"cost:a": 9.0})  # (after its start)
    start = ev.RunStarted(10.0, "r", "chain", "p.yaml", [{"id": "one"}, {"id": "two"}],
                          [{"id": t, "phase": p, "agent": "w", "needs": []}
                           for t, p in (("a", "one"), ("b", "one"), ("c", "two"), ("d", "two"))],
                          [{"id": "w", "slots": 2}])  # fmt: skip
    await store.create_run(RunRow("r", "chain", "p.yaml", "running", 10.0, started_at=10.0))
    await store.acquire_lease("r", 1, 0.5, 10.0, lambda *_: True)  # (pid 1, another start: gone)
    await store.write_batch("r", [(1, start), (2, ev.PhaseStarted(10.0, "one"))])
    runner = Runner(plan, store, "r", run_dir=str(tmp_path), executor=ScriptedExecutor(), resume={})  # type: ignore[arg-type]
    state = await runner.run()
    assert state.status.value == "succeeded"
    assert runner._monitoring.gate_waits == {"g": 60.0}
    assert runner._budgets.expected == {"a": 0.5}


async def test_a_command_that_comes_as_the_run_ends_is_refused(tmp_path: Path) -> None:
    """Between the end of the run's work and its `run.finished` (the store's last checks), an
    approval was taken and acted on: a change applied, tasks started after the run's end. A
    command that steers the run is refused there; an amendment's approval goes to its change
    gate, which refuses it (audited, as every refused decision); a note is still taken."""
    from phasegate.engine.model.identity import current_identity

    answers: list[dict[str, Any]] = []

    def keep(r: Runner) -> None:
        damage = r.store.damage

        async def checked() -> str:
            who = current_identity()
            diff = [{"what": "task", "id": "e", "change": "added", "phase": "two"}]
            r.emit(ev.ChangeProposed(r.now(), "change-1", who.user, who.uid, diff))
            answers.append(r.submit("pause", {}, who))
            answers.append(r.submit("approve", {"gate": "change-1"}, who))
            answers.append(r.submit("note", {"text": "late but kept"}, who))
            return await damage()

        r.store.damage = checked  # type: ignore[method-assign]

    state, _ = await run_plan(tmp_path, CHAIN, ScriptedExecutor(), on_runner=keep)
    assert state.status.value == "succeeded"
    assert answers[0] == {"error": "the run's work has ended: it takes no command that steers it"}
    refused = answers[1]["event"]
    assert refused["type"] == "gate.refused", answers[1]
    why = json.loads(refused["data"])["why"]
    assert why == "the run's work has ended: change-1 can no longer be applied"
    assert not state.amendments and state.changes["change-1"].status.value == "rejected"
    assert "error" not in answers[2] and state.notes and state.notes[-1][2] == "late but kept"


@pytest.mark.parametrize("keep", [False, True])
async def test_an_attempt_to_adopt_that_ended_is_adopted_with_its_code_though_it_left_a_process(
    tmp_path: Path, keep: bool
) -> None:
    # c (on_resume: adopt) ended with exit code 3 while no engine ran, and left a process in
    # the background: it was run again (its processes counted as its life), though its status
    # file had its end; now it is adopted with that code, and what it left is stopped (kept
    # for a task that keeps its background)
    from phasegate.engine.exec.adopt import files_for

    _, store = await run_plan(tmp_path, CHAIN, ScriptedExecutor())
    events = [e for _, e in await store.read_events("run1")]
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.TaskStarted) and e.task == "c")
    state = project(events[: cut + 1])
    assert state.tasks["c"].status is TaskStatus.RUNNING and state.tasks["c"].attempts == 1
    Path(files_for(str(tmp_path), "c", 1).status).write_text("3\n")
    run_x = f"run-x-{uuid.uuid4().hex[:8]}"
    left = _sleeper(run_x, "c", 1)
    try:
        kept = frozenset({"c"}) if keep else frozenset()
        entries = await take_over(
            state, run_x, {"c": "adopt"}, {}, run_dir=str(tmp_path), grace=0.2, keep=kept
        )
        said = "it ended with exit code 3 while no engine ran"
        said += "" if keep else "; what it left running is stopped"
        assert entries == [
            {"task": "c", "attempt": 1, "action": "adopted", "pids": [left.pid], "note": said}
        ]
        if keep:
            assert left.poll() is None
        else:
            assert left.wait(timeout=10) == -15  # TERM to its group
    finally:
        left.kill()
        left.wait()
