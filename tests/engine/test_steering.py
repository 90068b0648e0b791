"""Operators steering a run from another client: skip, cancel, pause and resume (the run or one
phase), priorities and slots, retries; the run's row says it is paused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity, current_identity
from phasegate.engine.model.state import RunState
from phasegate.engine.model.statuses import RunStatus, TaskStatus
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import command, operated, until


async def _steer(
    tmp_path: Path, text: str, script: list[tuple[str, str, dict[str, object]]]
) -> tuple[RunState, MemoryStore]:
    """Run the plan; when the task named in each step is running (or `*` for at once),
    write the command."""

    async def operator(runner: Runner, store: MemoryStore) -> None:
        for when_running, kind, args in script:
            if when_running != "*":
                task = runner.state.tasks[when_running]
                await until(lambda t=task: t.status is TaskStatus.RUNNING)  # type: ignore[misc]
            command(runner, kind, args)

    return await operated(tmp_path, text, operator)


PLAN = """
name: steer
kill_grace: 1s
agents: {a: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: slow, run: "sleep 30"}
      - {id: after-slow, run: "true", needs: [slow]}
      - {id: gate-keeper, run: "sleep 0.5"}
      - {id: later, run: "true", needs: [gate-keeper]}
"""


async def test_skip_a_running_task_and_its_dependents_go_on(tmp_path: Path) -> None:
    state, store = await _steer(
        tmp_path, PLAN, [("slow", "skip", {"task": "slow", "reason": "not needed"})]
    )
    assert state.tasks["slow"].status is TaskStatus.SKIPPED
    assert state.tasks["after-slow"].status is TaskStatus.SUCCEEDED
    assert state.status is RunStatus.SUCCEEDED
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert done[0].ok and done[0].by == current_identity().user


async def test_a_command_is_answered_with_the_operators_reason_and_where_it_came_from(
    tmp_path: Path,
) -> None:
    # regression: a command's answer (its audit row) kept only the engine's reply, so the
    # operator's reason was lost, and none of the host, tty and SSH connection a vote keeps
    ssh = "10.0.0.1 50000 10.0.0.2 22"
    who = Identity(current_identity().user, os.geteuid(), "h", "/dev/pts/3", ssh)

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["slow"].status is TaskStatus.RUNNING)
        runner.submit("retry", {"task": "nope", "reason": "flaky"}, who)
        runner.submit("priority", {"task": "after-slow", "priority": 3}, who)
        runner.submit("skip", {"task": "slow", "reason": "not needed"}, who)

    state, store = await operated(tmp_path, PLAN, operator)
    assert state.tasks["slow"].status is TaskStatus.SKIPPED
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert [(d.kind, d.ok, d.reason, d.message) for d in done] == [
        (
            "retry",
            False,
            "flaky",
            "this run has no task 'nope'; its tasks: after-slow, gate-keeper, later, slow",
        ),
        ("priority", True, "", "task 'after-slow' has priority 3"),
        ("skip", True, "not needed", "task 'slow' is being stopped; it will be skipped"),
    ]
    assert {(d.by, d.uid, d.host, d.tty, d.ssh) for d in done} == {
        (who.user, who.uid, "h", "/dev/pts/3", ssh)
    }
    assert [d.target for d in done] == ["task nope", "task after-slow (priority 3)", "task slow"]


async def test_cancel_one_task_blocks_its_dependents(tmp_path: Path) -> None:
    state, _ = await _steer(tmp_path, PLAN, [("slow", "cancel_task", {"task": "slow"})])
    assert state.tasks["slow"].status is TaskStatus.CANCELLED
    assert state.tasks["after-slow"].status is TaskStatus.BLOCKED
    assert state.tasks["later"].status is TaskStatus.SUCCEEDED  # independent work went on
    assert state.status is RunStatus.FAILED


async def test_pause_holds_new_tasks_until_resume_and_notes_are_kept(tmp_path: Path) -> None:
    text = """
    name: pause
    agents: {a: {}}
    phases:
      - id: p
        tasks: [{id: one, run: "sleep 0.5"}, {id: two, run: "true", needs: [one]}]
    """
    state, store = await _steer(
        tmp_path,
        text,
        [
            ("one", "pause", {}),
            ("one", "note", {"text": "deploy window moved"}),
            ("*", "resume", {}),
            ("*", "skip", {"task": "nope", "reason": "x"}),
        ],
    )
    events = [e for _, e in await store.read_events("run1")]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("RunPaused") < kinds.index("RunResumed")
    started_two = next(e for e in events if isinstance(e, ev.TaskStarted) and e.task == "two")
    resumed = next(e for e in events if isinstance(e, ev.RunResumed))
    assert started_two.ts >= resumed.ts  # nothing new started while paused
    assert state.notes[0][1:] == (current_identity().user, "deploy window moved")
    refused = [e for e in events if isinstance(e, ev.CommandDone) and not e.ok]
    assert "no task 'nope'" in refused[0].message
    assert state.status is RunStatus.SUCCEEDED


async def test_priority_and_slots_change_what_starts_next(tmp_path: Path) -> None:
    text = """
    name: order
    agents: {a: {slots: 1}}
    phases:
      - id: p
        tasks:
          - {id: first, run: "sleep 0.3", estimate: 9}
          - {id: b, run: "sleep 0.3", estimate: 2}
          - {id: c, run: "sleep 0.3", estimate: 1, priority: -1}
          - {id: d, run: "sleep 0.3", estimate: 1}
    """
    state, store = await _steer(
        tmp_path,
        text,
        [
            ("first", "priority", {"task": "d", "priority": 10}),
            ("first", "slots", {"agent": "a", "slots": 3}),
        ],
    )
    events = [e for _, e in await store.read_events("run1")]
    starts = [e.task for e in events if isinstance(e, ev.TaskStarted)]
    assert starts[:2] == ["first", "d"]  # d jumped the queue
    running, most = 0, 0
    for e in events:
        running += isinstance(e, ev.TaskStarted) - isinstance(e, ev.TaskFinished)
        most = max(most, running)
    assert most >= 2  # more slots: tasks ran at once
    assert state.agents["a"].slots == 3
    assert (state.tasks["d"].priority, state.tasks["c"].priority) == (10, -1)  # as shown
    assert state.status is RunStatus.SUCCEEDED


RETRY = """
name: retry
agents: {a: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: flaky, run: "sh -c 'test $PHASEGATE_ATTEMPT -ge 2'"}
      - {id: after, run: "true", needs: [flaky]}
      - {id: last, run: "true", needs: [after]}
      - {id: slow, run: "sleep 1.5"}
"""


async def test_retry_runs_a_failed_task_again_and_its_dependents_wait_for_it(
    tmp_path: Path,
) -> None:
    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["last"].status is TaskStatus.BLOCKED)
        for kind, args in [
            ("retry", {"task": "slow"}),  # running: refused
            ("retry", {"task": "after"}),  # its need failed: refused
            ("retry", {"task": "flaky"}),
        ]:
            command(runner, kind, args)

    state, store = await operated(tmp_path, RETRY, operator)
    assert state.status is RunStatus.SUCCEEDED
    assert state.tasks["flaky"].attempts == 2
    assert all(state.tasks[t].status is TaskStatus.SUCCEEDED for t in ("after", "last"))
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert [d.ok for d in done] == [False, False, True]
    assert "only a failed" in done[0].message and "needs flaky" in done[1].message
    assert "runs again as attempt 2; 2 blocked task(s) wait for it again" in done[2].message
    resets = [e for _, e in await store.read_events("run1") if isinstance(e, ev.TaskReset)]
    assert {r.task for r in resets} == {"after", "last"}


async def test_a_retry_while_the_run_is_paused_says_it_waits_for_the_resume(
    tmp_path: Path,
) -> None:
    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["last"].status is TaskStatus.BLOCKED)
        command(runner, "pause", {})
        command(runner, "retry", {"task": "flaky"})
        command(runner, "resume", {})

    state, store = await operated(tmp_path, RETRY, operator)
    assert state.status is RunStatus.SUCCEEDED
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert "runs again as attempt 2 once the run resumes" in done[1].message


async def test_pause_one_phase_holds_its_tasks_until_it_is_resumed(tmp_path: Path) -> None:
    text = """
    name: phased
    agents: {a: {}}
    phases:
      - id: one
        tasks: [{id: a, run: "sleep 0.3"}]
      - id: two
        tasks: [{id: b, run: "true"}]
    """
    seen: dict[str, object] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        state = runner.state
        await until(lambda: state.tasks["a"].status is TaskStatus.RUNNING)
        command(runner, "pause", {"phase": "two"})
        command(runner, "pause", {"phase": "nope"})
        await until(lambda: state.phases["two"].status == "running")
        await asyncio.sleep(0.3)  # a held phase: b must not start in the meantime
        seen["b while held"] = state.tasks["b"].status
        seen["held"] = state.phases["two"].held
        command(runner, "pause", {"phase": "two"})
        command(runner, "resume", {"phase": "two"})
        command(runner, "resume", {"phase": "two"})

    state, store = await operated(tmp_path, text, operator)
    assert seen == {"b while held": TaskStatus.READY, "held": True}
    assert state.status is RunStatus.SUCCEEDED and not state.phases["two"].held
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert [d.ok for d in done] == [True, False, False, True, False]
    assert "no phase 'nope'" in done[1].message
    # (it said "is not paused already")
    assert [done[2].message, done[4].message] == [
        "phase 'two' is paused already",
        "phase 'two' is not paused",
    ]


async def test_the_run_row_says_paused_while_the_run_is_paused(tmp_path: Path) -> None:
    # (`phasegate runs` lists the row: it said running all along)
    text = """
    name: pause
    agents: {a: {}}
    phases:
      - id: p
        tasks: [{id: one, run: "sleep 0.3"}, {id: two, run: "true", needs: [one]}]
    """
    seen: list[str] = []

    async def operator(runner: Runner, store: MemoryStore) -> None:
        task = runner.state.tasks["one"]
        await until(lambda: task.status is TaskStatus.RUNNING)
        command(runner, "pause", {})

        async def row_status() -> str:
            row = await store.get_run("run1")
            return row.status if row is not None else ""

        for _ in range(1000):  # (the sink writes it within a batch window: 10 s at most here)
            if (status := await row_status()) == "paused":
                seen.append(status)
                break
            await asyncio.sleep(0.01)
        command(runner, "resume", {})

    state, store = await operated(tmp_path, text, operator)
    assert seen == ["paused"] and state.status is RunStatus.SUCCEEDED
    row = await store.get_run("run1")
    assert row is not None and row.status == "succeeded"


async def test_commands_on_an_ended_task_are_refused_in_the_words_a_dashboard_shows(
    tmp_path: Path,
) -> None:
    """The dashboard says why a task's key does nothing before asking anything
    (engine/model/refusals.py); the engine, sent the command anyway, refuses it in the same
    words, the ended task's status named (a priority's refusal did not name it)."""
    from phasegate.engine.model.refusals import task_refusal

    said: dict[str, str | None] = {}

    async def operator(runner: Runner, store: MemoryStore) -> None:
        await until(lambda: runner.state.tasks["later"].status is TaskStatus.SUCCEEDED)
        for kind, action, args in [
            ("priority", "priority", {"task": "later", "priority": 5}),
            ("skip", "skip", {"task": "later", "reason": "no need"}),
            ("cancel_task", "cancel", {"task": "later"}),
            ("retry", "retry", {"task": "later"}),
        ]:
            said[kind] = task_refusal(runner.state, action, "later")  # type: ignore[arg-type]
            command(runner, kind, args)
        command(runner, "skip", {"task": "slow", "reason": "done with it"})

    state, store = await operated(tmp_path, PLAN, operator)
    done = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert [d.ok for d in done] == [False, False, False, False, True]
    assert [d.message for d in done[:4]] == list(said.values())
    assert said["priority"] == "task 'later' has ended already (succeeded)"
    assert said["retry"] is not None and "only a failed" in said["retry"]
    assert (
        state.tasks["later"].priority == 0 and state.tasks["later"].status is TaskStatus.SUCCEEDED
    )


async def test_a_slots_or_priority_commands_row_keeps_the_number_asked(tmp_path: Path) -> None:
    # regression: the audit row of `slots` kept only `agent a`: a refused one lost the number
    text = """
    name: asked
    agents: {a: {slots: 1}}
    phases:
      - id: p
        tasks:
          - {id: first, run: "sleep 0.3"}
          - {id: then, run: "true", needs: [first]}
    """
    _, store = await _steer(
        tmp_path,
        text,
        [
            ("first", "slots", {"agent": "nobody", "slots": 3}),
            ("first", "priority", {"task": "then", "priority": 7}),
        ],
    )
    rows = [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]
    assert [(r.kind, r.ok, r.target) for r in rows] == [
        ("slots", False, "agent nobody (slots 3)"),
        ("priority", True, "task then (priority 7)"),
    ]
