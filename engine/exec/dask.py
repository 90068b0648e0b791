"""Tasks on a Dask cluster (an agent's `executor: {dask: tcp://host:8786}`): one asynchronous
Client per scheduler, on the engine's loop; each task one Dask task (engine/exec/dask_worker.py)
that runs its command in its own process group on a worker and sends its output lines back, in
order, as events on this client's topic.

phasegate decides, not Dask: tasks are submitted with retries=0, and the scheduler must let no
task survive a worker's death (`distributed.scheduler.allowed-failures: 0`, checked on connect:
a scheduler that does is warned of, and a task Dask starts again elsewhere is stopped):
a worker that dies mid-task makes the task lost (`Exit(None, "lost: ...")`), into its retry
policy. Cancel and timeout signal the group on its worker (`client.run`): Dask's own cancel does
not stop a running command. Imported only when a plan names a Dask executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import cloudpickle
import distributed
import msgspec
from distributed import Client
from distributed.client import FutureCancelledError
from distributed.security import Security

from phasegate.engine.exec import dask_worker
from phasegate.engine.exec.base import Exit, Handle, ProcSpec
from phasegate.engine.exec.executors import REMOTE

if TYPE_CHECKING:
    from phasegate.engine.plan.model import Agent, DaskTls

CONNECT_TIMEOUT = 10.0  # to reach the scheduler
LINES_WAIT = 5.0  # after a task's end, for its last lines still on their way
STOP_GRACE = 5.0  # TERM to KILL for what a dead engine's tasks left on the workers
CANCEL_AFTER = 2.0  # past the grace of a terminate: the Dask task is cancelled as well

# the worker side travels by value: workers need distributed, not phasegate
cloudpickle.register_pickle_by_value(dask_worker)


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
        attempt = env.get("PHASEGATE_ATTEMPT", "")
        self.key = f"phasegate-{tag}-{attempt}-{uuid.uuid4().hex[:8]}"
        self.pid = self.pgid = 0
        self.worker = ""  # the address of the worker it runs on, once it started
        self._future: distributed.Future[list[int]] | None = None
        self._seq = 0  # the next event expected
        self._early: dict[int, tuple[str, Any]] = {}  # events ahead of their turn
        self._caught_up: asyncio.Event | None = None
        self._total = -1  # events the task sent, known at its end
        self._stop: int = 0  # the signal asked for before it started
        self._exited: asyncio.Future[int] | None = None  # its exit code, from its last event
        self._done = False

    # -- the engine's side --------------------------------------------------------------
    async def run(self) -> None:
        ex = self._ex
        if self._spec.stdin:
            self._end(Exit(None, "an agent spoken to on its input cannot run on a Dask cluster"))
            return
        try:
            client = await ex.client()
        except (OSError, TimeoutError) as exc:
            self._end(Exit(None, f"lost: Dask scheduler {ex.address}: {exc}"))
            return
        if self._stop:
            self._end(Exit(-self._stop))
            return
        ex.handles[self.key] = self
        spec = self._spec
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
            if not exited.done() and future.status == "finished":
                with contextlib.suppress(TimeoutError):  # (its last events are on their way)
                    await asyncio.wait_for(asyncio.shield(exited), LINES_WAIT)
        finally:
            settled.cancel()
        if exited.done():
            self._end(Exit(exited.result()))
            return
        try:
            code, total = await future
        except FutureCancelledError:
            self._end(Exit(-(self._stop or signal.SIGKILL)))
            return
        except Exception as exc:  # (it becomes the attempt's end: lost)
            self._end(Exit(None, self._lost(exc)))
            return
        self._total = total
        if self._seq < total:
            self._caught_up = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caught_up.wait(), LINES_WAIT)
        if self._seq < total:
            missing = total - self._seq
            self._on_line("err", f"phasegate: {missing} batches of its output never came")
        self._end(Exit(code))

    def _lost(self, exc: BaseException) -> str:
        if isinstance(exc, distributed.KilledWorker):
            where = self.worker or exc.last_worker.address
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
            pid, worker = int(payload[0]), str(payload[1])
            if self.worker:  # Dask started it again elsewhere (a worker left): phasegate decides
                self._ex.signal(worker, pid, signal.SIGKILL, 0.0)
                before = self.worker
                self._worker_lost(before)
                self._cancel()
                self._end(
                    Exit(
                        None,
                        f"lost: worker {before} left; Dask started it again on {worker}: stopped",
                    )
                )
                return
            self.pid = self.pgid = pid
            self.worker = worker
            if self._stop:
                self._ex.signal(worker, pid, self._stop, 0.0)

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


class DaskExecutor:
    """Runs tasks on one Dask cluster; shared by the agents that name its scheduler."""

    adoptable = False  # a dead engine's tasks went with its client: take-over reruns them

    def __init__(self, address: str, agent: Agent) -> None:
        self.address = address
        self._tls: DaskTls | None = agent.executor.tls if agent.executor is not None else None
        self.topic = f"phasegate-{uuid.uuid4().hex}"
        self.handles: dict[str, DaskTask] = {}
        self.lost: list[LostWorker] = []  # workers that died under a task (the run's risk)
        self._connecting: asyncio.Future[Any] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._settled: dict[str, asyncio.Future[str]] = {}  # run id -> what a take-over stopped

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def client(self) -> Any:
        """The connected client, connecting on first use (again after a failed attempt)."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        except BaseException:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
            raise

    async def _connect(self) -> Any:
        security = None
        if self._tls is not None:
            security = Security(  # type: ignore[no-untyped-call]
                tls_ca_file=self._tls.ca,
                tls_client_cert=self._tls.cert,
                tls_client_key=self._tls.key,
                require_encryption=True,
            )
        client: Any = await Client(  # type: ignore[no-untyped-call]
            self.address,
            asynchronous=True,
            security=security,
            set_as_default=False,
            timeout=CONNECT_TIMEOUT,
        )
        allowed = await client.run_on_scheduler(dask_worker.allowed_failures)
        if allowed != 0:  # (a task Dask starts again elsewhere is stopped and lost all the same)
            print(
                f"phasegate: the Dask scheduler at {self.address} lets a task survive {allowed} "
                "worker deaths by running it again: phasegate stops such a second run and counts "
                "the task lost, but a task whose worker died waits for another worker to be "
                "noticed; start the scheduler with distributed.scheduler.allowed-failures: 0",
                file=sys.stderr,
                flush=True,
            )
        client.subscribe_topic(self.topic, self._event)
        return client

    def _event(self, event: tuple[float, list[Any]]) -> None:
        key, seq, kind, payload = event[1]
        task = self.handles.get(key)
        if task is not None:
            task.event(seq, kind, payload)

    def signal(self, worker: str, pgid: int, sig: int, grace: float) -> None:
        """Signal a process group on a worker (TERM, then KILL after `grace`)."""

        async def send() -> None:
            client = await self.client()
            with contextlib.suppress(Exception):  # (the worker is gone: so is the group)
                await client.run(
                    dask_worker.signal_group, pgid, sig, grace, workers=[worker], on_error="ignore"
                )

        self.spawn(send())

    async def settle(
        self, run_id: str, task: str, attempt: int, action: str
    ) -> tuple[str, str, str]:
        """A dead engine's attempt here, at a take-over: (action, why, ""). Its Dask task went with
        that engine's client (the workers killed its group when the scheduler released it), so
        it is never adopted: it runs again, or is skipped as asked. What the run's tasks left
        on the workers is stopped first (once per run), found by the run's id."""
        if run_id not in self._settled:
            self._settled[run_id] = asyncio.ensure_future(self._stop_run(run_id))
        note = await asyncio.shield(self._settled[run_id])
        if action == "adopt":
            why = f"its Dask task went with the dead engine's client; {note}: run again"
            return "rerun", why, ""
        return action, note, ""  # (nothing is lost on a worker: its group went with the client)

    async def _stop_run(self, run_id: str) -> str:
        try:
            client = await self.client()
            found = await client.run(dask_worker.stop_run, run_id, STOP_GRACE, on_error="ignore")
        except Exception as exc:  # (out of reach: its tasks die with their client)
            return f"the Dask scheduler {self.address} is out of reach ({exc})"
        pids = [p for ps in found.values() if isinstance(ps, list) for p in ps]
        if not pids:
            return f"nothing of the run was left on the workers of {self.address}"
        return f"{len(pids)} of the run's processes stopped on the workers of {self.address}"

    # -- Executor ------------------------------------------------------------------------------
    def start(
        self,
        spec: ProcSpec,
        on_line: Callable[[str, str], None],
        on_exit: Callable[[Exit], None],
    ) -> DaskTask:
        task = DaskTask(self, spec, on_line, on_exit)
        self.spawn(task.run())
        return task

    def started_at(self, handle: Handle) -> float | None:
        return None

    def close(self) -> None:
        for task in list(self.handles.values()):
            task.kill()
        connecting, self._connecting = self._connecting, None
        if connecting is None:
            return
        if not connecting.done():
            connecting.cancel()
            return
        if connecting.exception() is None:
            with contextlib.suppress(RuntimeError):  # (no loop: the process ends anyway)
                self.spawn(_close(connecting.result()))


async def _settled(future: Any) -> None:
    """Until the future is done, without fetching its result (a round trip to the worker)."""
    state = getattr(future, "_state", None)
    if state is None or not hasattr(state, "wait"):  # (another distributed: the public way)
        with contextlib.suppress(Exception):
            await future
        return
    await state.wait()


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        await client.close()


REMOTE["dask"] = DaskExecutor
