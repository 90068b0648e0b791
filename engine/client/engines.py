"""Engines for runs: start `python -m phasegate.engine` for a run in its own session and wait
for its word that it holds the run (`start_engine`), or host the run in this process, in the
foreground (`host`, engine/host.py)."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time

import msgspec

from phasegate.engine.client import taker
from phasegate.engine.exec.strays import become_subreaper
from phasegate.engine.host import Job as Job
from phasegate.engine.host import exit_code as exit_code
from phasegate.engine.host import host as _host
from phasegate.engine.model.errors import PhasegateError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.state import RunState
from phasegate.engine.store.paths import run_dir

ENGINE_START_TIMEOUT = 20.0
ENGINE_EXIT_GRACE = 5.0  # for an engine that did not take the run to exit by itself


async def host(job: Job) -> tuple[RunState, int | None]:
    """Host the run in this process, in the foreground (`run --headless`). The process becomes
    the reaper of its tasks' orphans, as the engine process does (engine/exec/strays.py)."""
    become_subreaper()
    return await _host(job)


class EngineDidNotStart(PhasegateError):
    """The engine child exited, or did not take the run in time; the message has its log."""


def _ready(engine: subprocess.Popen[bytes], fd: int, timeout: float) -> bool:
    """Wait for the engine's handshake on the pipe: `ok PID` once it holds the run's lease.
    False when the pipe closes without it (the engine exited or gave up) or in `timeout`."""
    deadline = time.monotonic() + timeout
    said = b""
    while b"\n" not in said:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, 64)
        if not chunk:
            return False
        said += chunk
    return said.split()[:2] == [b"ok", str(engine.pid).encode()]


def start_engine(job: Job) -> subprocess.Popen[bytes]:
    """Start `python -m phasegate.engine` as the run's engine, in its own session (closing the
    terminal or dropping SSH does not stop it), its output in the run directory's engine.log; hand
    it the job (the plan parsed here) and wait for its word that it holds the run. Raises
    EngineDidNotStart (with the log's tail) when it does not take the run."""
    who = taker(job.db_path)
    if who is not None:  # (it would refuse the database, if it could write its log at all)
        raise EngineDidNotStart(
            f"only {who} can start an engine for run {job.run_id}: the database "
            f"{job.db_path} is theirs, and an engine writes only its user's; nothing was done"
        )
    try:
        log_path = os.path.join(run_dir(job.db_path, job.run_id), "engine.log")
        log = open(log_path, "ab")  # noqa: SIM115 (closed once the engine has it)
    except OSError as exc:
        raise EngineDidNotStart(f"the engine of run {job.run_id} cannot start: {exc}") from None
    job = msgspec.structs.replace(job, tty=job.tty or current_identity().tty)
    read_fd, write_fd = os.pipe()
    try:
        with log:
            engine = subprocess.Popen(
                # -P: a folder named `engine` where the user stands is not the engine
                [sys.executable, "-P", "-m", "phasegate.engine", "--ready-fd", str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(write_fd,),
            )
        os.close(write_fd)
        assert engine.stdin is not None
        with contextlib.suppress(BrokenPipeError), engine.stdin:  # (died first: see its log)
            import pickle  # (only to hand a run to an engine process: not at start-up)

            engine.stdin.write(pickle.dumps(job, pickle.HIGHEST_PROTOCOL))
        try:
            ok = _ready(engine, read_fd, ENGINE_START_TIMEOUT)
        except KeyboardInterrupt:  # (Ctrl-C as it starts: the run is stopped, not left going)
            engine.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                engine.wait(timeout=ENGINE_EXIT_GRACE)
            raise
    finally:
        os.close(read_fd)
    if ok:
        return engine
    try:  # it closed the pipe: let its last words reach the log
        engine.wait(timeout=ENGINE_EXIT_GRACE)
    except subprocess.TimeoutExpired:
        engine.terminate()
        engine.wait()
    with open(log_path, errors="replace") as f:
        tail = f.read()[-2000:]
    raise EngineDidNotStart(f"the engine did not start the run; its log ({log_path}):\n{tail}")
