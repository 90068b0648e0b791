"""One task on a Dask cluster (engine/exec/dask.py): its Dask future, its process group on a
worker, its lines in order, and its start as the worker reports it.

A task is submitted at once, but it may wait in Dask's queue (the scheduler's, or a busy
worker's) before a worker thread starts its command: it has started when the worker says so
(its "started" event), not when it was submitted (`started`, `when_started`). A worker that dies
before it started the task (the scheduler holds no mark of its start: `_marked`) loses nothing:
the task is submitted again (`requeued`), and never counted lost; one that dies once the command
may have started makes the task lost (`Exit(None, "lost: ...")`), into its retry policy: a task
is never run twice by phasegate's doing. A worker the scheduler no longer counts (dropped after a
missed heartbeat, its process alive) refuses to start it (`dask_worker.mark_started`): submitted
again too. A scheduler that cannot be reached starts nothing: the task fails "not started: ...",
into its retry policy.

Imports no distributed at the top (it is imported by the executor, which does): distributed is an
extra, and the engine's modules import without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.exec import dask_worker
from phasegate.engine.exec.base import Exit, ProcSpec

if TYPE_CHECKING:
    import distributed

    from phasegate.engine.exec.dask import DaskExecutor

LINES_WAIT = 5.0  # after a task's end, for its last lines still on their way
CANCEL_AFTER = 2.0  # past the grace of a terminate: the Dask task is cancelled as well
MAX_REQUEUES = 10  # workers dying before it starts: then it is lost all the same
QUEUED_SAID = 1.0  # a start after this long in Dask's queue is said in its output


class LostWorker(msgspec.Struct, frozen=True):
    """A worker that died (or left) while it ran one of this engine's tasks."""

    worker: str  # its address
    task: str  # the task's id (PHASEGATE_TASK)
    attempt: int
    at: float  # (epoch) when the engine saw the task lost


class DaskTask:
    """One task on the cluster: its Dask future, its remote process group, its lines."""

    def __init__(
        self,
        executor: DaskExecutor,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> None:
        self._ex = executor
        self._spec = spec
        self._on_line = on_line
        self._on_exit = on_exit
        env = spec.env
        tag = "-".join(env.get(k, "") for k in ("PHASEGATE_RUN_ID", "PHASEGATE_TASK"))
        self._tag = f"phasegate-{tag}-{env.get('PHASEGATE_ATTEMPT', '')}"
        self.key = self._new_key()
        self.pid = self.pgid = 0
        self.worker = ""  # the address of the worker it runs on, once it started
        self.submitted = time.time()  # (epoch) when it was handed to Dask
        self.started: float | None = None  # (epoch) when the engine heard its command started
        self.requeued = 0  # times a worker died before it started it: submitted again
        self._again = ""  # why it was last submitted again
        self._starts: list[Callable[[], None]] = []
        self._future: distributed.Future[list[int]] | None = None
        self._seq = 0  # the next event expected (of the current submission)
        self._early: dict[int, tuple[str, Any]] = {}  # events ahead of their turn
        self._caught_up: asyncio.Event | None = None
        self._total = -1  # events the task sent, known at its end
        self._stop: int = 0  # the signal asked for before it started
        self._exited: asyncio.Future[int] | None = None  # its exit code, from its last event
        self._done = False

    def _new_key(self) -> str:
        return f"{self._tag}-{uuid.uuid4().hex[:8]}"

    @property
    def queued(self) -> bool:
        """Handed to Dask, its command not started on a worker yet (or its start is on its
        way): it waits for a free worker thread."""
        return self.started is None and not self._done

    def when_started(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when its command starts on a worker (now if it has); never
        if it ends without starting (cancelled while queued, no scheduler)."""
        if self.started is not None:
            callback()
        elif not self._done:
            self._starts.append(callback)

    # -- the engine's side --------------------------------------------------------------
    async def run(self) -> None:
        ex = self._ex
        if self._spec.stdin:
            self._end(Exit(None, "an agent spoken to on its input cannot run on a Dask cluster"))
            return
        try:
            client = await ex.client()
        except Exception as exc:  # (nothing was handed to Dask: it did not start, nothing lost)
            said = f"not started: the Dask scheduler {ex.address} could not be reached: {exc}"
            self._end(Exit(None, said))
            return
        while True:
            if self._stop:
                self._end(Exit(-self._stop))
                return
            result = await self._submit(client)
            if result is not None:
                self._end(result)
                return
            # its worker died before it started it (or refused to): nothing ran, so it is no
            # attempt lost
            self.requeued += 1
            self._on_line("err", f"phasegate: {self._again}: submitted again")

    async def _submit(self, client: Any) -> Exit | None:
        """One submission to Dask, to its end; None when a worker died before starting it."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        ex, spec = self._ex, self._spec
        if self.requeued:
            ex.handles.pop(self.key, None)  # (what the lost submission still sends is dropped)
            self.key = self._new_key()
            self._seq, self._early, self._total = 0, {}, -1
        ex.handles[self.key] = self
        grace = 2.0 if spec.kill_grace is None else spec.kill_grace
        self._future = future = client.submit(
            dask_worker.run_task,
            spec.argv,
            # what the engine adds to its own environment (PHASEGATE_*, the plan's env and
            # secrets), over the worker's: the engine's PATH or HOME mean nothing there
            {k: v for k, v in spec.env.items() if os.environ.get(k) != v},
            spec.cwd,
            spec.keep_background,
            grace,
            ex.topic,
            self.key,
            key=self.key,
            pure=False,
            retries=0,
            # the plan's resources it uses: only a worker that declares them runs it
            resources=spec.resources or None,
        )
        # the task's last event carries its exit code: the task ends on it, once every line
        # before it is in (no round trip to fetch the result); the future is watched for a
        # task that never gets there (its worker died, it was cancelled)
        exited = self._exited = asyncio.get_running_loop().create_future()
        settled = asyncio.ensure_future(_settled(future))
        try:
            await asyncio.wait({exited, settled}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done() and future.status == "finished" and not await _refused(future):
                with contextlib.suppress(TimeoutError):  # (its last events are on their way)
                    await asyncio.wait_for(asyncio.shield(exited), LINES_WAIT)
        finally:
            settled.cancel()
        if exited.done():
            return Exit(exited.result())
        try:
            code, total = await future
        except FutureCancelledError:
            return Exit(-(self._stop or signal.SIGKILL))
        except KilledWorker as exc:
            dead = exc.last_worker.address
            self.worker = self.worker or await self._marked(client, dead)
            if not self.worker:  # (it ran nothing: its worker died with it in its queue)
                if self._stop:
                    return Exit(-self._stop)
                self._again = (
                    f"Dask worker {dead} died before it started the task (it waited in that "
                    "worker's queue)"
                )
                if self.requeued < MAX_REQUEUES:
                    return None
            return Exit(None, self._lost(exc))
        except Exception as exc:  # (it becomes the attempt's end: lost)
            return Exit(None, self._lost(exc))
        if total == dask_worker.REFUSED:  # (the scheduler no longer gave it that worker)
            if self._stop:
                return Exit(-self._stop)
            self._again = (
                "a Dask worker that was closing, or that the scheduler no longer counted, "
                "refused to start the task"
            )
            if self.requeued < MAX_REQUEUES:
                return None
            return Exit(None, f"not started: {self.requeued + 1} Dask workers refused to start it")
        self._total = total
        if self._seq < total:
            self._caught_up = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caught_up.wait(), LINES_WAIT)
        if self._seq < total:
            missing = total - self._seq
            self._on_line("err", f"phasegate: {missing} batches of its output never came")
        return Exit(code)

    async def _marked(self, client: Any, dead: str) -> str:
        """The worker that told the scheduler it started the command ("" if none did: it ran
        nothing). Its "started" event may still be on its way, or lost with the worker: the
        mark is what the worker waited for before it started anything (dask_worker). When the
        scheduler cannot say, the dead worker: a task that may have run is never run again."""
        try:
            marked = await client.get_metadata([self.key], default=None)
        except Exception:
            return dead
        return str(marked or "")

    def _lost(self, exc: BaseException) -> str:
        from distributed import KilledWorker

        if isinstance(exc, KilledWorker):
            where = self.worker or exc.last_worker.address
            if not self.worker:  # (workers kept dying before one started it)
                return f"lost: {self.requeued + 1} Dask workers died before one started the task"
            self._worker_lost(where)
            return f"lost: worker {where} died while it ran the task"
        return f"lost: on worker {self.worker or '?'}: {type(exc).__name__}: {exc}"

    def _worker_lost(self, worker: str) -> None:
        env = self._spec.env
        attempt = int(env.get("PHASEGATE_ATTEMPT") or 0)
        lost = LostWorker(worker, env.get("PHASEGATE_TASK", ""), attempt, time.time())
        self._ex.lost.append(lost)

    def _end(self, result: Exit) -> None:
        if self._done:
            return
        self._done = True
        self._starts.clear()
        self._future = None  # (released: the scheduler forgets the task)
        self._ex.handles.pop(self.key, None)
        self._on_exit(result)

    # -- events from the worker, in order ----------------------------------------------------
    def event(self, seq: int, kind: str, payload: Any) -> None:
        if seq != self._seq:
            self._early[seq] = (kind, payload)
            return
        self._apply(kind, payload)
        while self._seq in self._early:
            self._apply(*self._early.pop(self._seq))
        if self._caught_up is not None and self._seq >= self._total:
            self._caught_up.set()

    def _apply(self, kind: str, payload: Any) -> None:
        self._seq += 1
        if kind == "many":  # (events the worker sent together)
            for each in payload:
                self._one(str(each[0]), each[1])
        else:
            self._one(kind, payload)

    def _one(self, kind: str, payload: Any) -> None:
        if self._done:
            return
        if kind == "lines":
            for stream, text in payload:
                self._on_line(stream, text)
        elif kind == "exit":
            if self._exited is not None and not self._exited.done():
                self._exited.set_result(int(payload[0]))
        elif kind == "started":
            self._started(int(payload[0]), str(payload[1]))

    def _started(self, pid: int, worker: str) -> None:
        if self.worker:  # Dask started it again elsewhere (a worker left): phasegate decides
            self._ex.signal(worker, pid, signal.SIGKILL, 0.0)
            before = self.worker
            self._worker_lost(before)
            self._cancel()
            self._end(
                Exit(
                    None, f"lost: worker {before} left; Dask started it again on {worker}: stopped"
                )
            )
            return
        self.pid = self.pgid = pid
        self.worker = worker
        self.started = time.time()
        waited = self.started - self.submitted
        if waited >= QUEUED_SAID:  # (its time so far was Dask's queue, not its command)
            self._on_line(
                "err",
                f"phasegate: started on Dask worker {worker} after {waited:.1f}s in Dask's "
                "queue (no free worker thread)",
            )
        if self._stop:
            self._ex.signal(worker, pid, self._stop, 0.0)
        starts, self._starts = self._starts, []
        for callback in starts:
            callback()

    # -- Handle --------------------------------------------------------------------------------
    def terminate(self, grace: float) -> None:
        self._signal(signal.SIGTERM, grace)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 0.0)

    def _signal(self, sig: int, grace: float) -> None:
        if self._done:
            return
        self._stop = self._stop or sig
        if self.worker and self.pid:
            self._ex.signal(self.worker, self.pid, sig, grace)
            asyncio.get_running_loop().call_later(grace + CANCEL_AFTER, self._cancel)
        else:  # not started yet (or its start is on its way): it never runs, or is killed
            self._cancel()

    def _cancel(self) -> None:
        if self._future is not None and not self._done:
            self._ex.spawn(self._future.cancel())  # type: ignore[no-untyped-call]

    def write(self, data: bytes) -> bool:
        return False

    def close_stdin(self) -> None:
        pass


async def _settled(future: Any) -> None:
    """Until the future is done, without fetching its result (a round trip to the worker)."""
    state = getattr(future, "_state", None)
    if state is None or not hasattr(state, "wait"):  # (another distributed: the public way)
        with contextlib.suppress(Exception):
            await future
        return
    await state.wait()


async def _refused(future: Any) -> bool:
    """Did the task's worker refuse to start it (dask_worker.REFUSED: it sent nothing, so no
    last event is on its way to wait for)?"""
    try:
        _, total = await future
    except Exception:  # (its end is read again, and told, by the caller)
        return False
    return bool(total == dask_worker.REFUSED)
