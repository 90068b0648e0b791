"""The run loop with real local processes: failures, retries, timeouts, output, hand-offs."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psutil
import pytest

from phasegate.engine.model.statuses import AgentStatus, RunStatus, TaskStatus
from phasegate.engine.store import MemoryStore

from .helpers import command, run_plan


def _run_id() -> str:
    """A run id no other test's run has: the process scans below look at the whole machine,
    where other tests (other pytest-xdist workers) run their own `run1` at the same time."""
    return f"run-{uuid.uuid4().hex[:8]}"


def _processes_of(run_id: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("PHASEGATE_RUN_ID") == run_id:
                found.append(p)
        except psutil.Error:
            continue
    return found


async def test_failure_blocks_dependents_and_later_phases_but_independent_work_finishes(
    tmp_path: Path,
) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: fail
        agents: {a: {slots: 2}}
        phases:
          - id: p
            tasks:
              - {id: bad, run: "sh -c 'exit 3'"}
              - {id: child, run: "true", needs: [bad]}
              - {id: grandchild, run: "true", needs: [child]}
              - {id: independent, run: "true"}
          - id: later
            tasks: [{id: never, run: "true"}]
        """,
    )
    t = state.tasks
    assert state.status is RunStatus.FAILED
    assert t["bad"].status is TaskStatus.FAILED and t["bad"].exit_code == 3
    assert "exited with code 3" in t["bad"].reason
    assert t["child"].status is TaskStatus.BLOCKED and "bad" in t["child"].reason
    assert t["grandchild"].status is TaskStatus.BLOCKED
    assert t["independent"].status is TaskStatus.SUCCEEDED
    assert t["never"].status is TaskStatus.BLOCKED
    assert state.phases["later"].status == "pending"


async def test_on_failure_continue_lets_dependents_run(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: continue
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - {id: flaky-docs, run: "false", on_failure: continue}
              - {id: after, run: "true", needs: [flaky-docs]}
        """,
    )
    assert state.tasks["flaky-docs"].status is TaskStatus.FAILED
    assert state.tasks["after"].status is TaskStatus.SUCCEEDED
    assert state.status is RunStatus.SUCCEEDED


async def test_retries_make_new_attempts_until_one_passes(tmp_path: Path) -> None:
    state, store = await run_plan(
        tmp_path,
        """
        name: retry
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - id: flaky
                run: 'echo "attempt $PHASEGATE_ATTEMPT"; test "$PHASEGATE_ATTEMPT" -ge 3'
                retries: 3
                backoff: 0.01
        """,
    )
    flaky = state.tasks["flaky"]
    assert flaky.status is TaskStatus.SUCCEEDED and flaky.attempts == 3
    lines = await store.read_output("run1", "flaky")
    assert [(line.attempt, line.text) for line in lines] == [
        (1, "attempt 1"),
        (2, "attempt 2"),
        (3, "attempt 3"),
    ]
    retrying = [e for _, e in await store.read_events("run1") if e.type == "task.retrying"]
    assert [e.delay for e in retrying] == [0.01, 0.02]  # type: ignore[attr-defined]


async def test_retries_used_up_fail_the_task(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: retry-fail
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: "false", retries: 2, backoff: 0}]}]
        """,
    )
    assert state.tasks["t"].status is TaskStatus.FAILED
    assert state.tasks["t"].attempts == 3


async def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    run_id = _run_id()
    started = time.monotonic()
    state, _ = await run_plan(
        tmp_path,
        """
        name: timeout
        kill_grace: 1s
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - {id: slow, run: "sh -c 'sleep 60 & sleep 60; wait'", timeout: 0.3}
        """,
        run_id=run_id,
    )
    assert time.monotonic() - started < 10
    slow = state.tasks["slow"]
    assert slow.status is TaskStatus.TIMED_OUT
    assert "timed out after 0.3s" in slow.reason
    assert not _processes_of(run_id)


async def test_a_finished_task_leaves_nothing_running_and_never_waits_for_held_pipes(
    tmp_path: Path,
) -> None:
    run_id = _run_id()
    started = time.monotonic()
    state, _ = await run_plan(
        tmp_path,
        """
        name: leftovers
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              # the background sleep keeps stdout open for a minute
              - {id: leaky, run: "sleep 60 & echo done"}
        """,
        run_id=run_id,
    )
    assert time.monotonic() - started < 10
    assert state.tasks["leaky"].status is TaskStatus.SUCCEEDED
    assert not _processes_of(run_id)


async def test_keep_background_leaves_the_helper_running(tmp_path: Path) -> None:
    run_id = _run_id()
    state, _ = await run_plan(
        tmp_path,
        """
        name: keep
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - {id: daemon, run: "sleep 60 > /dev/null 2>&1 & echo started", keep_background: true}
        """,
        run_id=run_id,
    )
    assert state.tasks["daemon"].status is TaskStatus.SUCCEEDED
    left = _processes_of(run_id)
    try:
        assert [p.name() for p in left] == ["sleep"]
    finally:
        for p in left:
            p.kill()


async def test_output_is_streamed_by_line_including_bad_bytes_and_huge_lines(
    tmp_path: Path,
) -> None:
    script = tmp_path / "emit.py"
    script.write_text(
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "out.write(b'plain\\n')\n"
        "out.write(b'bad \\xff\\xfe bytes\\n')\n"
        "out.write(b'x' * (1024 * 1024) + b'\\n')\n"
        "sys.stderr.write('to stderr\\n')\n"
        "out.write(b'no newline at the end')\n"
    )
    state, store = await run_plan(
        tmp_path,
        f"""
        name: output
        agents: {{a: {{}}}}
        phases: [{{id: p, tasks: [{{id: emit, run: "python3 {script}"}}]}}]
        """,
    )
    lines = await store.read_output("run1", "emit")
    by_stream = {(line.stream, line.text[:20]) for line in lines}
    assert ("out", "plain") in by_stream
    assert ("out", "bad \ufffd\ufffd bytes") in by_stream
    assert ("err", "to stderr") in by_stream
    assert ("out", "no newline at the en") in by_stream
    huge = [line for line in lines if len(line.text) == 1024 * 1024]
    assert len(huge) == 1
    assert state.tasks["emit"].lines == 5


async def test_output_cap_keeps_the_tail_and_counts_dropped_lines(tmp_path: Path) -> None:
    state, store = await run_plan(
        tmp_path,
        """
        name: cap
        output_cap: 1000
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: chatty, run: "seq 1 2000"}]}]
        """,
    )
    task = state.tasks["chatty"]
    lines = await store.read_output("run1", "chatty")
    assert task.lines == 2000
    assert task.dropped == 2000 - len(lines)
    assert lines[-1].text == "2000"
    assert sum(len(line.text) + 1 for line in lines) <= 1000
    assert [int(line.text) for line in lines] == list(range(2001 - len(lines), 2001))


async def test_missing_declared_output_fails_the_hand_off(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: handoff
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - {id: make, run: "true", outputs: [dist/app.tar]}
              - {id: use, run: "true", needs: [make]}
        """,
    )
    assert state.tasks["make"].status is TaskStatus.FAILED
    assert "declared output 'dist/app.tar' was not produced" in state.tasks["make"].reason
    assert state.tasks["use"].status is TaskStatus.BLOCKED


async def test_agent_that_fails_its_probe_is_not_ready_and_its_tasks_are_blocked(
    tmp_path: Path,
) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: probe
        agents:
          broken: {ready: "sh -c 'echo no licence >&2; exit 4'"}
          fine: {ready: "true"}
        phases:
          - id: p
            tasks:
              - {id: a, run: "true", agent: broken}
              - {id: b, run: "true", agent: fine}
        """,
    )
    assert state.agents["broken"].status is AgentStatus.NOT_READY
    assert "exited 4" in state.agents["broken"].detail
    assert "no licence" in state.agents["broken"].detail
    assert state.tasks["a"].status is TaskStatus.BLOCKED
    assert "not ready" in state.tasks["a"].reason
    assert state.tasks["b"].status is TaskStatus.SUCCEEDED


async def test_a_probe_that_fails_saying_nothing_says_so(tmp_path: Path) -> None:
    # regression: the detail ended on a dangling colon ("`false` exited 1: ")
    state, _ = await run_plan(
        tmp_path,
        """
        name: probe
        agents:
          quiet: {ready: "false"}
        phases:
          - id: p
            tasks:
              - {id: a, run: "true", agent: quiet}
        """,
    )
    assert state.agents["quiet"].detail == "`false` exited 1 (it printed nothing)"


async def test_agent_command_template_wraps_the_script(tmp_path: Path) -> None:
    state, store = await run_plan(
        tmp_path,
        """
        name: wrap
        vars: {who: world}
        agents: {a: {command: "bash -c {script}"}}
        phases: [{id: p, tasks: [{id: t, run: 'echo "hello {who}" | tr a-z A-Z'}]}]
        """,
    )
    assert state.tasks["t"].status is TaskStatus.SUCCEEDED
    assert [line.text for line in await store.read_output("run1", "t")] == ["HELLO WORLD"]


async def test_plan_checks_fail_the_run_before_anything_starts(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: checks
        checks: {binaries: [no-such-binary-xyz], env: [PHASEGATE_SURELY_UNSET]}
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: "true"}]}]
        """,
    )
    assert state.status is RunStatus.FAILED
    assert "no-such-binary-xyz" in state.reason
    assert state.tasks["t"].status is TaskStatus.BLOCKED


async def test_a_missing_program_fails_with_a_clear_reason(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: missing
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: "no-such-program-xyz --flag"}]}]
        """,
    )
    t = state.tasks["t"]
    assert t.status is TaskStatus.FAILED and t.exit_code == 127
    assert "cannot run 'no-such-program-xyz'" in t.reason


async def test_tasks_run_in_the_workdir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _, store = await run_plan(
        tmp_path,
        """
        name: workdir
        workdir: sub
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: pwd}]}]
        """,
    )
    assert [line.text for line in await store.read_output("run1", "t")] == [
        os.path.realpath(tmp_path / "sub")
    ]


async def test_tasks_start_with_default_signal_handling(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; a task must not inherit that: `yes | head -1` ends quietly
    (yes is killed by SIGPIPE), instead of yes complaining of a broken pipe."""
    state, store = await run_plan(
        tmp_path,
        """
        name: sigpipe
        agents: {a: {}}
        phases:
          - id: p
            tasks:
              - {id: pipe, run: "yes | head -1"}
              - {id: plain, run: "grep SigIgn /proc/self/status"}
        """,
    )
    assert state.tasks["pipe"].status is TaskStatus.SUCCEEDED
    lines = [(line.stream, line.text) for line in await store.read_output("run1", "pipe")]
    assert lines == [("out", "y")]
    (ignored,) = [line.text for line in await store.read_output("run1", "plain")]
    mask = int(ignored.split()[1], 16)
    for sig in (13, 25):  # SIGPIPE, SIGXFSZ
        assert not mask & (1 << (sig - 1)), f"signal {sig} is ignored in tasks: {ignored}"


@pytest.mark.parametrize("command", ["true", "sh -c true"])
async def test_every_event_is_persisted(tmp_path: Path, command: str) -> None:
    tasks = ", ".join(f'{{id: t{i}, run: "{command}"}}' for i in range(20))
    state, store = await run_plan(
        tmp_path,
        f"""
        name: persisted
        agents: {{a: {{slots: 2}}}}
        phases: [{{id: p, tasks: [{tasks}]}}]
        """,
    )
    from phasegate.engine.model.fold import project

    stored = [e for _, e in await store.read_events("run1")]
    assert len(stored) == state.events
    assert project(stored).counts() == {"succeeded": 20}
    run = await store.get_run("run1")
    assert run is not None and run.status == "succeeded" and run.counts == {"succeeded": 20}


async def test_a_cancel_command_from_another_client_stops_the_run(tmp_path: Path) -> None:
    import asyncio

    from phasegate.engine.run.loop import Runner

    store = MemoryStore()

    async def operator() -> None:
        while store_state().get("t") != TaskStatus.RUNNING:
            await asyncio.sleep(0.01)
        command(runner[0], "cancel", {"reason": "stopped by ops"})

    runner: list[Runner] = []

    def store_state() -> dict[str, TaskStatus]:
        return {k: v.status for k, v in runner[0].state.tasks.items()} if runner else {}

    run_id = _run_id()
    waiter = asyncio.ensure_future(operator())
    state, _ = await run_plan(
        tmp_path,
        """
        name: cancel
        kill_grace: 1s
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: "sleep 60"}, {id: u, run: "true", needs: [t]}]}]
        """,
        store=store,
        on_runner=runner.append,
        run_id=run_id,
    )
    await waiter
    assert state.status is RunStatus.CANCELLED
    assert state.reason == "stopped by ops"
    assert state.tasks["t"].status is TaskStatus.CANCELLED
    assert not _processes_of(run_id)


async def test_task_name_in_a_declared_output_is_substituted(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: outputs
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: build, run: "touch build.out", outputs: ["{task}.out"]}]}]
        """,
    )
    assert state.tasks["build"].status is TaskStatus.SUCCEEDED


async def test_a_second_engine_on_a_run_is_refused_and_leaves_nothing_pending(
    tmp_path: Path,
) -> None:
    from phasegate.engine.model.errors import EngineBusy
    from phasegate.engine.plan import load_plan
    from phasegate.engine.run.loop import Runner
    from phasegate.engine.store.base import RunRow

    from .helpers import write_plan

    store = MemoryStore()
    await store.create_run(RunRow("busy", "p", "p.yaml", "running", time.time()))
    other = psutil.Process(os.getppid())  # a live process holds the lease
    await store.acquire_lease("busy", other.pid, other.create_time(), time.time(), lambda *_: True)
    plan = load_plan(str(write_plan(tmp_path, "name: p\nagents: {a: {}}\nphases: [{id: p}]\n")))
    runner = Runner(plan, store, "busy", run_dir=str(tmp_path))
    with pytest.raises(EngineBusy, match="already has a live engine"):
        await runner.run()
    assert not hasattr(runner, "_sink")


FALLBACK = """
name: fallback
agents: {a: {slots: 2}}
phases:
  - id: p
    tasks:
      - {id: deploy, run: "sh -c 'exit 1'", on_failure: {fallback: rollback}}
      - {id: rollback, run: "sh -c 'touch rolled; test ! -f broken'"}
      - {id: notify, run: "touch notified", needs: [deploy]}
      - {id: fine, run: "true", on_failure: {fallback: spare}}
      - {id: spare, run: "touch spare-ran"}
  - id: after
    tasks: [{id: last, run: "true"}]
"""


async def test_a_fallback_runs_when_its_task_fails_and_its_dependents_go_on(
    tmp_path: Path,
) -> None:
    state, _ = await run_plan(tmp_path, FALLBACK)
    status = {t: s.status.value for t, s in state.tasks.items()}
    assert status == {
        "deploy": "failed",
        "rollback": "succeeded",
        "notify": "succeeded",  # went on: the fallback stood in for deploy
        "fine": "succeeded",
        "spare": "skipped",  # not needed
        "last": "succeeded",
    }
    assert state.tasks["spare"].reason == "not needed: 'fine' succeeded"
    assert (tmp_path / "rolled").exists() and not (tmp_path / "spare-ran").exists()
    assert state.status is RunStatus.SUCCEEDED


async def test_when_the_fallback_fails_too_the_dependents_are_blocked(tmp_path: Path) -> None:
    (tmp_path / "broken").touch()
    state, _ = await run_plan(tmp_path, FALLBACK)
    assert state.tasks["rollback"].status is TaskStatus.FAILED
    assert state.tasks["notify"].status is TaskStatus.BLOCKED
    assert "its fallback 'rollback' too" in state.tasks["notify"].reason
    assert state.status is RunStatus.FAILED and state.tasks["last"].status is TaskStatus.BLOCKED
