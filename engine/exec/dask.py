"""Tasks on a Dask cluster (an agent's `executor: {dask: tcp://host:8786}`): one asynchronous
Client per scheduler, on the engine's loop; each task one Dask task (engine/exec/dask_worker.py)
that runs its command in its own process group on a worker and sends its output lines back, in
order, as events on this client's topic.

phasegate decides, not Dask: tasks are submitted with retries=0, and the scheduler must let no
task survive a worker's death (`distributed.scheduler.allowed-failures: 0`, checked on connect:
a scheduler that does is warned of, and a task Dask starts again elsewhere is stopped):
a worker that dies mid-task makes the task lost (`Exit(None, "lost: ...")`), into its retry
policy; one that dies with the task still in its queue loses nothing: the task is submitted
again. A task has started when its worker says so (engine/exec/dask_task.py). Cancel and
timeout signal the group on its worker (`client.run`): Dask's own cancel does not stop a
running command. Imported only when a plan names a Dask executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import cloudpickle
from distributed import Client
from distributed.security import Security

from phasegate.engine.exec import dask_worker
from phasegate.engine.exec.base import Exit, Handle, ProcSpec
from phasegate.engine.exec.dask_task import DaskTask, LostWorker
from phasegate.engine.exec.executors import REMOTE

if TYPE_CHECKING:
    from phasegate.engine.plan.model import Agent, DaskTls

CONNECT_TIMEOUT = 10.0  # to reach the scheduler
STOP_GRACE = 5.0  # TERM to KILL for what a dead engine's tasks left on the workers

# the worker side travels by value: workers need distributed, not phasegate
cloudpickle.register_pickle_by_value(dask_worker)


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
        client: Any = Client(  # type: ignore[no-untyped-call]
            self.address,
            asynchronous=True,
            security=security,
            set_as_default=False,
            timeout=CONNECT_TIMEOUT,
        )
        try:
            await client
        except BaseException:  # (closed here: else its __del__ leaves a close never awaited)
            await _close(client)
            raise
        try:
            allowed = await client.run_on_scheduler(dask_worker.allowed_failures)
        except BaseException:  # (a scheduler that answers but cannot run it: not connected)
            await _close(client)
            raise
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


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        await client.close()


REMOTE["dask"] = DaskExecutor
__all__ = ["DaskExecutor", "DaskTask", "LostWorker"]
