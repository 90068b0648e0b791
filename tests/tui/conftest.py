"""Command-line tests run `phasegate` as a user does: the commands that start or steer a run in a
real process of the installed command; those that only read a database or a plan (`IN_PROCESS`)
through the same `main()` in the test's own process, with its own argv, environment, working
directory and standard streams (a process each cost ~0.12 s of CPU: ~35 s of the suite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
async def _close_run_sockets() -> AsyncIterator[None]:
    """The sockets of the live runs a dashboard test served (helpers.live_run), closed."""
    from .helpers import CHANNELS

    yield
    while CHANNELS:
        await CHANNELS.pop().close()


def until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    """Wait for a condition a test can only poll (another process's state), or fail naming it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def show_last(pg: Run) -> dict[str, object]:
    """`phasegate show last --json`, parsed."""
    done = pg("show", "last", "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def spawn_pg(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`phasegate ARGS` in the background, as a user starts it, its output captured as text."""
    return subprocess.Popen(
        [PHASEGATE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["PHASEGATE_DB"] = str(tmp_path / "data" / "phasegate.db")
    env["NO_COLOR"] = "1"
    yield env
    _stop_engines(env["PHASEGATE_DB"])


def _stop_engines(db: str) -> None:
    """The engines a test started on its database (`run --detach`, a dashboard's), and their
    tasks, killed: a test that failed before it cancelled its run left them running for good,
    on a machine the rest of the suite shares."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if "phasegate.engine" not in " ".join(proc.info["cmdline"] or ()):
            continue
        try:
            if proc.environ().get("PHASEGATE_DB") != db:
                continue
            for p in [*proc.children(recursive=True), proc]:
                p.kill()
        except psutil.Error:
            continue


# what only reads: run in the test's process (what starts or steers a run, or waits on one: a
# real process, as its signals, its exit and its engine are part of what is tested)
IN_PROCESS = frozenset(
    {"validate", "show", "runs", "report", "plan", "gates", "audit", "diff", "search", "risks",
     "schema", "doctor"}
)  # fmt: skip


def in_process(
    args: tuple[str, ...], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`phasegate ARGS` through the command's own `main()`, here: argv, the environment (the
    whole of it, as a process would have), the working directory and stdout and stderr (no
    terminal: as a pipe) are the command's while it runs. An exception it lets out fails the
    test, as its traceback would."""
    import io

    from phasegate.tui.cli.main import main

    streams = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True) for _ in "12"]
    saved = (sys.argv, sys.stdout, sys.stderr, dict(os.environ), os.getcwd())
    code: object = 0
    try:
        sys.argv = [PHASEGATE, *args]
        sys.stdout, sys.stderr = streams
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        os.chdir(cwd)
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    finally:
        sys.argv, sys.stdout, sys.stderr = saved[:3]
        os.environ.clear()
        os.environ.update(saved[3])
        time.tzset()
        os.chdir(saved[4])
    if code is None:
        code = 0
    elif not isinstance(code, int):  # (`sys.exit("text")`: said on stderr, exit 1)
        streams[1].write(f"{code}\n")
        code = 1
    out, err = (s.buffer.getvalue().decode() for s in streams)  # type: ignore[attr-defined]
    return subprocess.CompletedProcess([PHASEGATE, *args], code, out, err)


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def pg(tmp_path: Path, cli_env: dict[str, str]) -> Run:
    def run(
        *args: str, timeout: float | None = None, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        # (a timeout asked for, stdin or other options: a process, which they apply to)
        if args and args[0] in IN_PROCESS and timeout is None and not kw and not _loop_running():
            return in_process(args, tmp_path, cli_env)
        return subprocess.run(
            [PHASEGATE, *args],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60 if timeout is None else timeout,
            **kw,  # type: ignore[call-overload]
        )

    return run


# two phases and a manual gate between them: a run that waits for a person after its first task
GATED_PLAN = """
name: gated
agents: {a: {}}
phases:
  - id: first
    tasks: [{id: one, run: "echo one"}]
  - id: second
    tasks: [{id: two, run: "echo two"}]
gates:
  - {id: review, after: first}
"""


PLAN = """
name: dash
agents:
  builder: {capabilities: [build], slots: 2}
  tester: {capabilities: [test]}
phases:
  - id: build
    title: Build it
    tasks:
      - {id: compile, run: "echo compiled", capability: build}
      - {id: docs, run: "printf '[bold red]markup[/] \\\\033[31mred\\\\n'", capability: build}
  - id: check
    tasks:
      - {id: unit, run: "sh -c 'echo unit ok; echo needle here'", capability: test,
         needs: [compile]}
      - {id: flaky, run: "sh -c 'echo boom >&2; exit 1'", capability: test, on_failure: continue}
"""


@pytest.fixture
async def finished_run(tmp_path: Path) -> tuple[str, str]:
    """A finished run (one task failed, with on_failure: continue) in a SQLite database."""
    from phasegate.engine.plan import load_plan
    from phasegate.engine.run.loop import Runner
    from phasegate.engine.store import SQLiteStore

    plan_path = tmp_path / "dash.yaml"
    plan_path.write_text(PLAN)
    db = str(tmp_path / "data" / "phasegate.db")
    store = await SQLiteStore.open(db)
    try:
        await Runner(load_plan(str(plan_path)), store, "run1", run_dir=str(tmp_path)).run()
    finally:
        await store.close()
    return db, "run1"
