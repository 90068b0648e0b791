"""Helpers for engine tests: write a plan, run it on a store, a scripted fake executor."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from phasegate.engine.exec.base import Exit, ProcSpec
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.state import RunState
from phasegate.engine.plan import load_plan
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore


def write_plan(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


async def run_plan(
    tmp_path: Path,
    text: str,
    executor: object | None = None,
    store: MemoryStore | None = None,
    on_runner: Callable[[Runner], None] | None = None,
    run_id: str = "run1",
) -> tuple[RunState, MemoryStore]:
    plan = load_plan(str(write_plan(tmp_path, text)))
    store = store or MemoryStore()
    runner = Runner(plan, store, run_id, run_dir=str(tmp_path), executor=executor)  # type: ignore[arg-type]
    if on_runner is not None:
        on_runner(runner)
    state = await runner.run()
    return state, store


@dataclass
class FakeHandle:
    pid: int
    pgid: int
    terminated: bool = False

    def terminate(self, grace: float) -> None:
        self.terminated = True

    def kill(self) -> None:
        self.terminated = True


@dataclass
class ScriptedExecutor:
    """Finishes each task on the next loop turn with a scripted exit code (per task, per attempt).

    Records the order tasks started in and the greatest number running at once, per agent too.
    """

    codes: dict[str, list[int]] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)  # tasks that run until released
    started: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    max_running: int = 0
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    _held: dict[str, Callable[[Exit], None]] = field(default_factory=dict)
    _pid: int = 1000

    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> FakeHandle:
        task = spec.env["PHASEGATE_TASK"]
        self.started.append(task)
        self.envs[task] = spec.env
        self.running.add(task)
        self.max_running = max(self.max_running, len(self.running))
        self._pid += 1
        script = self.codes.get(task, [])
        code = script.pop(0) if script else 0

        def finish(result: Exit | None = None) -> None:
            result = result or Exit(code)
            self.running.discard(task)
            on_line("out", f"{task} says hi")
            on_exit(result)

        if task in self.hold:
            self._held[task] = finish
        else:
            asyncio.get_running_loop().call_soon(finish)
        return FakeHandle(self._pid, self._pid)

    def release(self, task: str, code: int = 0) -> None:
        self._held.pop(task)(Exit(code))

    def adopt(self, pid: int | None, files: object, on_exit: Callable[[Exit], None]) -> FakeHandle:
        raise AssertionError("the scripted executor has nothing to adopt")

    def started_at(self, handle: FakeHandle) -> float | None:
        return None

    def close(self) -> None:
        pass


Operator = Callable[[Runner, MemoryStore], Awaitable[None]]


async def operated(tmp_path: Path, text: str, operator: Operator) -> tuple[RunState, MemoryStore]:
    """Run the plan while `operator` (given the runner, once it exists, and the store) writes
    commands into its inbox, as a second process would."""
    store = MemoryStore()
    runners: list[Runner] = []

    async def go() -> None:
        while not runners or not runners[0].state.run_id:  # (until the run has started)
            await asyncio.sleep(0.01)
        await operator(runners[0], store)

    helper = asyncio.ensure_future(go())
    state, _ = await run_plan(tmp_path, text, store=store, on_runner=runners.append)
    helper.cancel()
    return state, store


async def until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


def command(
    runner: Runner, kind: str, args: dict[str, object], user: str = "", uid: int = -1
) -> dict[str, object]:
    """A command as the run's socket hands it to the engine: from `user` (default: the run's
    starter, who may operate it) with the uid the kernel said."""
    who = Identity(user or runner.state.user, uid if uid >= 0 else os.geteuid(), "h")
    return runner.submit(kind, args, who)
