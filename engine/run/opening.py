"""A run's opening: the engine's claim on it in the store (a new run's row and plan recorded, the
lease that keeps a second engine off), then the run announced, committed before any task is
spawned, or a run whose engine died folded and taken over. A part of the runner
(engine/run/loop.py), which holds the run and its other parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from phasegate.engine.exec.group import process_start_time, same_process
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.snapshot import fold_run
from phasegate.engine.run import trees
from phasegate.engine.run.readiness import started_event
from phasegate.engine.store.base import RunRow
from phasegate.engine.watch.history import learned

if TYPE_CHECKING:
    from phasegate.engine.model.identity import Identity
    from phasegate.engine.run.loop import Runner


class Opening:
    def __init__(self, runner: Runner) -> None:
        self._r = runner

    async def claim(self, who: Identity, started: float, pid: int) -> RunRow | None:
        """The run's row (made, with its plan, for a new run; a run that exists already is
        refused unless it is taken over) and the engine's lease on it: the row as it was found
        (None: a new run)."""
        r = self._r
        store, run_id = r.store, r.run_id
        before = await store.get_run(run_id)
        alive = before is not None and same_process(before.engine_pid, before.engine_started)
        if before is not None and r._resume is None and not alive:  # (alive: EngineBusy)
            raise UsageError(
                f"run {run_id} exists already; a new run gets a new id "
                f"(`phasegate resume {run_id}` takes it over if its engine died)"
            )
        if before is None:
            row = RunRow(
                run_id, r.plan.name, r._plan_path, "pending", started, user=who.user, host=who.host
            )
            await store.create_run(row)
            # declared secrets are not in the text (only their sources); a literal key is
            await store.save_plan(run_id, r.redactor.text(r.plan.text), r.redactor.value(r._given))
        await store.acquire_lease(run_id, pid, process_start_time(pid), started, same_process)
        return before

    async def open(self, before: RunRow | None, who: Identity, started: float) -> None:
        """Go on with the run taken over (`before`: its row), or announce it anew: a new run, or
        one taken over whose start never reached the disk."""
        r = self._r
        taking_over = before if r._resume is not None else None
        if taking_over is not None:
            r.state, r._seq = await fold_run(r.store, r.run_id)
        if taking_over is not None and r.state.started_at is not None:
            # the history as the run's start saw it: gates' waits, tasks' expected costs
            # (budgets admit by them) and an amendment's estimates were forgotten here
            r._learn(await learned(r.store, r.plan.name, r.state.started_at))
            r._recording = True
            await r._takeover.settle(taking_over, who, r._resume or {})
            r._sink.summary(status=r.state.status.value, finished_at=None)
        else:
            await self._start(who, started, taking_over)

    async def _start(self, who: Identity, started: float, dead: RunRow | None) -> None:
        """Announce the run, committed before any task is spawned (one write, no fsync). `dead`:
        a run taken over whose start never reached the disk: it starts as it began (starter,
        start time); what its engine spawned is stopped and runs again as a new attempt."""
        r = self._r
        taker = who
        if dead is not None:
            starter = dead.user or who.user  # (its uid is the taker's only if it is its run)
            uid = who.uid if starter == who.user else -1
            # (from where it was started is not known: not the taker's terminal)
            who = replace(who, user=starter, uid=uid, host=dead.host or who.host, tty="", ssh="")
            started = dead.started_at or dead.created_at
        before = started if dead is not None else None  # (its own history is not its past)
        r._learn(await learned(r.store, r.plan.name, before))
        r._recording = True
        path, history = r._plan_path, r._monitoring.learned
        repo = trees.start_point(r.plan, r._workdir)
        r.emit(started_event(r.plan, path, r.run_id, started, who, history, repo))
        r._sink.summary(status="running", started_at=started)
        try:
            await r._sink.flush()
        except Exception as exc:  # (the sink keeps it: the run stops, as after any lost batch)
            r._store_failed(exc)
        if dead is not None:
            await r._takeover.settle(dead, taker, r._resume or {})
