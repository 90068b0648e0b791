"""Scheduling: order by priority then longest remaining path then plan order; slots; resources."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model.statuses import RunStatus, TaskStatus

from .helpers import ScriptedExecutor, run_plan


async def test_longest_remaining_path_starts_first(tmp_path: Path) -> None:
    fake = ScriptedExecutor()
    state, _ = await run_plan(
        tmp_path,
        """
        name: order
        agents: {a: {slots: 1}}
        phases:
          - id: p
            tasks:
              - {id: short, run: "true", estimate: 1s}
              - {id: long-head, run: "true", estimate: 1s}
              - {id: long-tail, run: "true", estimate: 10s, needs: [long-head]}
              - {id: medium, run: "true", estimate: 5s}
        """,
        fake,
    )
    assert state.status is RunStatus.SUCCEEDED
    # long-head leads an 11 s path, medium 5 s, short 1 s; long-tail becomes ready after its head
    assert fake.started == ["long-head", "long-tail", "medium", "short"]


async def test_priority_overrides_the_critical_path_and_ties_keep_plan_order(
    tmp_path: Path,
) -> None:
    fake = ScriptedExecutor()
    await run_plan(
        tmp_path,
        """
        name: priority
        agents: {a: {slots: 1}}
        phases:
          - id: p
            tasks:
              - {id: b, run: "true", estimate: 3s}
              - {id: a, run: "true", estimate: 3s}
              - {id: urgent, run: "true", estimate: 1s, priority: 5}
              - {id: big, run: "true", estimate: 9s}
        """,
        fake,
    )
    assert fake.started == ["urgent", "big", "b", "a"]


async def test_slots_limit_concurrency_per_agent(tmp_path: Path) -> None:
    fake = ScriptedExecutor(hold={"t1", "t2", "t3"})
    seen: list[int] = []

    def watch(runner: object) -> None:
        runner._listeners.append(lambda e: seen.append(len(fake.running)))  # type: ignore[attr-defined]

    import asyncio

    async def release_all() -> None:
        while len(fake.started) < 2:
            await asyncio.sleep(0)
        assert len(fake.running) == 2  # the third waits for a slot
        fake.release("t1")
        while len(fake.started) < 3:
            await asyncio.sleep(0)
        fake.release("t2")
        fake.release("t3")

    releaser = asyncio.ensure_future(release_all())
    state, _ = await run_plan(
        tmp_path,
        """
        name: slots
        agents: {a: {slots: 2}}
        phases:
          - id: p
            tasks:
              - {id: t1, run: "true"}
              - {id: t2, run: "true"}
              - {id: t3, run: "true"}
        """,
        fake,
        on_runner=watch,
    )
    await releaser
    assert state.status is RunStatus.SUCCEEDED
    assert fake.max_running == 2
    assert max(seen) <= 2


async def test_resource_capacity_serialises_users(tmp_path: Path) -> None:
    fake = ScriptedExecutor()
    state, store = await run_plan(
        tmp_path,
        """
        name: resources
        agents: {a: {slots: 4}}
        resources: {db: {capacity: 1}}
        phases:
          - id: p
            tasks:
              - {id: m1, run: "true", uses: {db: 1}}
              - {id: m2, run: "true", uses: {db: 1}}
              - {id: free, run: "true"}
        """,
        fake,
    )
    assert state.status is RunStatus.SUCCEEDED
    events = [e for _, e in await store.read_events("run1")]
    running: set[str] = set()
    for e in events:
        if e.type == "task.started":
            running.add(e.task)  # type: ignore[attr-defined]
            assert not {"m1", "m2"} <= running, "two users of a capacity-1 resource at once"
        elif e.type == "task.finished":
            running.discard(e.task)  # type: ignore[attr-defined]


async def test_capability_routes_tasks_to_agents_that_have_it(tmp_path: Path) -> None:
    state, _ = await run_plan(
        tmp_path,
        """
        name: routing
        agents:
          builder: {capabilities: [build], slots: 2}
          tester: {capabilities: [test]}
        phases:
          - id: p
            tasks:
              - {id: b1, run: "true", capability: build}
              - {id: b2, run: "true", capability: build}
              - {id: t1, run: "true", capability: test}
              - {id: pinned, run: "true", agent: tester}
        """,
        ScriptedExecutor(),
    )
    agents = {t.id: t.agent for t in state.tasks.values()}
    assert agents == {"b1": "builder", "b2": "builder", "t1": "tester", "pinned": "tester"}


async def test_phases_run_in_order(tmp_path: Path) -> None:
    fake = ScriptedExecutor()
    await run_plan(
        tmp_path,
        """
        name: phases
        agents: {a: {slots: 4}}
        phases:
          - id: one
            tasks: [{id: x, run: "true", estimate: 1s}]
          - id: two
            tasks: [{id: y, run: "true", estimate: 50s}, {id: z, run: "true", needs: [x]}]
        """,
        fake,
    )
    assert fake.started[0] == "x"
    assert set(fake.started[1:]) == {"y", "z"}


async def test_task_environment_names_the_run_task_and_attempt(tmp_path: Path) -> None:
    fake = ScriptedExecutor(codes={"t": [1, 0]})
    state, _ = await run_plan(
        tmp_path,
        """
        name: env
        agents: {a: {}}
        phases: [{id: p, tasks: [{id: t, run: "true", retries: 1, backoff: 0, env: {X: "1"}}]}]
        """,
        fake,
    )
    env = fake.envs["t"]
    assert env["PHASEGATE_RUN_ID"] == "run1"
    assert env["PHASEGATE_TASK"] == "t"
    assert env["PHASEGATE_ATTEMPT"] == "2"
    assert env["PHASEGATE_RUN_DIR"] == str(tmp_path)
    assert env["X"] == "1"
    assert "PATH" in env  # the caller's environment is kept
    assert state.tasks["t"].attempts == 2
    assert state.tasks["t"].status is TaskStatus.SUCCEEDED
