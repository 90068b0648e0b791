"""What runs on a Dask worker for a task of an agent with `executor: {dask: ...}`: its command in
its own session (process group), each output line sent back to the engine in order through the
worker's event log, then its exit code; and the signals the engine sends to a group there.

Only the standard library (and distributed, psutil: the worker's own) at the top: the engine's
client ships these functions by value, so a worker needs no phasegate installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

FLUSH_SECONDS = 0.02  # a batch of lines goes at least this often
FLUSH_LINES = 500  # or when it holds this many
DRAIN_SECONDS = 0.5  # output from leftover processes after the main exit (as local)
WATCH_EVERY = 0.25  # how often the task checks that Dask still wants it (cancelled: killed)
REFUSED = -1  # a run_task result's count of events: the worker refused to start the command
_READ = 65536
_PR_SET_PDEATHSIG = 1


def _die_with_worker() -> None:
    """In the child, before exec: KILL it if the worker dies (kill -9 of a worker must not
    leave its tasks running unseen; Linux only, best effort). The slow way (a preexec_fn makes
    subprocess fork the worker and run Python in the child: about 15 ms a task against 1 ms),
    for a worker without setpriv."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_SETPRIV = ["setpriv", "--pdeathsig", "KILL", "--"]
_DEATH_ATTR = "_phasegate_pdeathsig"


def _deathsig(worker: Any) -> tuple[list[str], Any]:
    """How this worker's tasks die with it: (argv prefix, preexec_fn). setpriv (util-linux)
    sets PR_SET_PDEATHSIG in the child and execs the command, so that subprocess keeps its
    fast vfork path; without it, the preexec_fn. Found once per worker."""
    found = getattr(worker, _DEATH_ATTR, None)
    if found is None:
        found = ([], None)
        if sys.platform.startswith("linux"):
            found = ([], _die_with_worker)
            with contextlib.suppress(Exception):
                setpriv = shutil.which("setpriv")
                if setpriv is not None:
                    probe = [setpriv, *_SETPRIV[1:], "true"]
                    if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                        found = ([setpriv, *_SETPRIV[1:]], None)
        with contextlib.suppress(Exception):
            setattr(worker, _DEATH_ATTR, found)
    return found


def _missing(argv0: str, env: dict[str, str], cwd: str) -> OSError | None:
    """What Popen would raise for a command that cannot be started (behind setpriv, it could
    only say so on the task's stderr)."""
    if "/" in argv0:
        path = os.path.join(cwd or ".", argv0)
        if not os.path.exists(path):
            return FileNotFoundError(2, "No such file or directory")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            return PermissionError(13, "Permission denied")
        return None
    if shutil.which(argv0, path=env.get("PATH", os.defpath)) is None:
        return FileNotFoundError(2, "No such file or directory")
    return None


# A keeper per worker process: told each task's process group, it KILLs those still listed when
# its input ends, that is when the worker dies (kill -9 included): a lost task leaves nothing.
_KEEPER = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for g in groups:
    try:
        os.killpg(g, signal.SIGKILL)
    except OSError:
        pass
"""
_KEEPER_ATTR = "_phasegate_keeper"
_keeper_lock = threading.Lock()


def _keep(worker: Any, op: str, pgid: int) -> None:
    """Tell the worker's keeper (started on first use) that a group starts or ends."""
    with contextlib.suppress(Exception):  # (best effort: pdeathsig stands behind it)
        lock = worker.__dict__.setdefault("_phasegate_lock", _keeper_lock)
        with lock:
            keeper = getattr(worker, _KEEPER_ATTR, None)
            if keeper is None or keeper.poll() is not None:
                keeper = subprocess.Popen(
                    [sys.executable, "-c", _KEEPER],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
                setattr(worker, _KEEPER_ATTR, keeper)
            pipe = keeper.stdin
            assert pipe is not None
            pipe.write(f"{op}{pgid}\n".encode())
            pipe.flush()


def _wanted(worker: Any, key: str) -> bool:
    ts = worker.state.tasks.get(key)
    return ts is not None and ts.state not in ("cancelled", "released", "forgotten")


def _signal(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(pgid: int, grace: float) -> None:
    """TERM the group, KILL what is left after `grace` seconds."""
    if not _signal(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # (never reaped here: the leader is the worker's child, whose status Popen reads)
        if not _signal(pgid, 0):
            return
        time.sleep(0.02)
    _signal(pgid, signal.SIGKILL)


def _mark_started(worker: Any, key: str) -> bool:
    """Tell the scheduler that this task's command starts now, and wait for its answer, before
    anything runs: when the worker dies, the engine asks (`_marked`) and submits again only a
    task never marked, that ran nothing. The "started" event cannot say it: it goes through the
    worker's batched event log and may reach the engine after the worker's death. Kept as the
    task's metadata, which the scheduler forgets with the task.
    False, and nothing may run, when this worker is closing or the scheduler no longer gives it
    the task (`mark_started`): a worker it dropped (a missed heartbeat) while its process lived
    on, whose task the engine has already submitted again elsewhere."""
    from distributed import get_client
    from distributed.core import Status

    if worker.status not in (Status.running, Status.paused):
        return False
    client = get_client()
    return bool(client.run_on_scheduler(mark_started, key, worker.address))  # type: ignore[no-untyped-call]


def mark_started(key: str, worker: str, dask_scheduler: Any) -> bool:
    """Run on the scheduler: mark the task started by `worker` if the scheduler still counts that
    worker and gives it the task, else False. Checked and marked at once (no await between: a
    worker is removed, and its tasks given up, in one step of the scheduler's loop too)."""
    ts = dask_scheduler.tasks.get(key)
    ws = dask_scheduler.workers.get(worker)
    if ts is None or ws is None or ts.state != "processing" or ts.processing_on is not ws:
        return False
    dask_scheduler.set_metadata([key], worker)
    return True


def run_task(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    keep: bool,
    grace: float,
    topic: str,
    key: str,
) -> list[int]:
    """The Dask task: run argv (`env` over the worker's environment), stream its lines as
    events `(key, seq, kind, payload)` on `topic` ("started" [pid, worker], "lines"
    [[stream, text], ...], last "exit" [exit code]; those due together as one "many" [[kind,
    payload], ...]: its start goes with its first lines, at most FLUSH_SECONDS after it),
    return [exit code, number of events sent].
    The exit code is -N when killed by signal N, 126/127 when it could not start; [0, REFUSED],
    nothing sent, when this worker may not start it (`_mark_started`): nothing ran."""
    from distributed import get_worker

    worker = get_worker()
    env = os.environ | env  # (the engine sends what it adds to its own environment)
    seq = 0
    pending: list[list[Any]] = []  # events not sent yet: they go together, as one

    def send(kind: str, payload: object) -> None:
        pending.append([kind, payload])

    def flush() -> None:
        nonlocal seq
        if len(pending) == 1:
            worker.log_event(topic, [key, seq, *pending[0]])
        elif pending:  # (a short task's start, lines and end: one message through the scheduler)
            worker.log_event(topic, [key, seq, "many", list(pending)])
        else:
            return
        pending.clear()
        seq += 1

    if cwd and not os.path.isdir(cwd):
        send("started", [0, worker.address])
        send("lines", [["err", f"phasegate: cannot enter the workdir {cwd} on {worker.address}"]])
        send("exit", [126])
        flush()
        return [126, seq]
    prefix, preexec = _deathsig(worker)
    if not _mark_started(worker, key):  # (the engine has given this run of it up: never twice)
        logging.getLogger("distributed.worker").warning(
            "phasegate: task %s not started: worker %s is closing or no longer counted by the "
            "scheduler",
            key,
            worker.address,
        )
        return [0, REFUSED]
    try:
        if prefix:
            missing = _missing(argv[0], env, cwd)
            if missing is not None:
                raise missing
        proc = subprocess.Popen(
            [*prefix, *argv],
            env=env,
            cwd=cwd or None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,  # (only without setpriv: it only calls prctl)
        )
    except OSError as exc:
        send("started", [0, worker.address])
        send("lines", [["err", f"phasegate: cannot run {argv[0]!r}: {exc.strerror}"]])
        send("exit", [127 if isinstance(exc, FileNotFoundError) else 126])
        flush()
        return [127 if isinstance(exc, FileNotFoundError) else 126, seq]
    _keep(worker, "+", proc.pid)
    send("started", [proc.pid, worker.address])
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    bufs = {"out": bytearray(), "err": bytearray()}
    for f, name in ((proc.stdout, "out"), (proc.stderr, "err")):
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ, name)
    batch: list[list[str]] = []
    flushed = watched = time.monotonic()
    drain_until: float | None = None
    while sel.get_map():
        for sk, _ in sel.select(FLUSH_SECONDS):
            name = sk.data
            try:
                data = os.read(sk.fd, _READ)
            except BlockingIOError:
                continue
            buf = bufs[name]
            if not data:
                if buf:
                    batch.append([name, buf.decode("utf-8", "replace")])
                    buf.clear()
                sel.unregister(sk.fileobj)
                continue
            end = data.rfind(b"\n")
            if end < 0:
                buf += data
                continue
            buf += data[:end]
            batch.extend([name, raw.decode("utf-8", "replace")] for raw in buf.split(b"\n"))
            bufs[name] = bytearray(data[end + 1 :])
        now = time.monotonic()
        if (batch or pending) and (len(batch) >= FLUSH_LINES or now - flushed >= FLUSH_SECONDS):
            if batch:
                send("lines", batch)
            flush()
            batch, flushed = [], now
        if drain_until is None and proc.poll() is not None:
            drain_until = now + DRAIN_SECONDS  # (leftovers may hold the pipes open)
        if drain_until is not None and now >= drain_until:
            break
        if now - watched >= WATCH_EVERY:
            watched = now
            if not _wanted(worker, key):  # cancelled, or its client (the engine) is gone
                _signal(proc.pid, signal.SIGKILL)
    for sk in list(sel.get_map().values()):
        name = sk.data
        if bufs[name]:
            batch.append([name, bufs[name].decode("utf-8", "replace")])
        sel.unregister(sk.fileobj)
    sel.close()
    proc.stdout.close()
    proc.stderr.close()
    if batch:
        send("lines", batch)
    code = proc.wait()
    if not keep:
        _stop_group(proc.pid, grace)  # (what it left in its group: a task leaves nothing)
    _keep(worker, "-", proc.pid)
    send("exit", [code])  # (the engine ends the task on it: no round trip for the result)
    flush()
    return [code, seq]


def signal_group(pgid: int, sig: int, grace: float) -> bool:
    """Run by the engine on the task's worker (client.run): TERM then KILL after `grace` in
    the background, or `sig` now. False when the group is gone."""
    if pgid <= 0:
        return False
    if sig == signal.SIGTERM and grace > 0:
        if not _signal(pgid, 0):
            return False
        threading.Thread(target=_stop_group, args=(pgid, grace), daemon=True).start()
        return True
    return _signal(pgid, sig)


def stop_run(run_id: str, grace: float) -> list[int]:
    """Run by a new engine on every worker (client.run): stop the process groups of the run's
    tasks that a dead engine left there (found by PHASEGATE_RUN_ID in their environment);
    the pids found."""
    import psutil

    found: list[int] = []
    groups: set[int] = set()
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PHASEGATE_RUN_ID") != run_id:
                continue
            groups.add(os.getpgid(proc.pid))
            found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    threads = [threading.Thread(target=_stop_group, args=(g, grace)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(found)


def allowed_failures(dask_scheduler: Any) -> int:
    """Run on the scheduler: how many worker deaths it lets a task survive (re-running it)."""
    return int(dask_scheduler.allowed_failures)
