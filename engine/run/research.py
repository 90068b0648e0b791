"""The plan's research queries, asked as the first phase starts: `history` searches what
earlier runs taught (the store's full-text index), a command provider is run with the query.
Each answer is stamped with the time it came (not the time the queries were asked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.capture import run_capture
from phasegate.engine.model import events as ev
from phasegate.engine.plan.model import Plan, Research
from phasegate.engine.plan.template import substitute
from phasegate.engine.store.base import Store


async def ask(
    q: Research,
    store: Store,
    run_id: str,
    values: dict[str, str],
    workdir: str,
    env: dict[str, str],
    now: float | Callable[[], float],
) -> ev.ResearchFinished:
    """`now`: the run's clock, or the time the queries were asked (the answer's time is then
    that and the time it took)."""
    asked = time.monotonic()

    def answered() -> float:
        return now() if callable(now) else now + (time.monotonic() - asked)

    query = substitute(q.query, values)
    if q.provider == "history":
        found = await store.search(query, q.limit, exclude_run=run_id)
        results = [f"{f.run_id} {f.kind} {f.subject}: {f.text}" for f in found]
        return ev.ResearchFinished(answered(), q.id, "history", query, results)
    argv, command = command_argv(q.provider.run, values | {"query": query})
    answer = await run_capture(argv, workdir, env, q.timeout, keep=1000)
    lines = [line for line in answer.lines if line.strip()][: q.limit]
    error = ""
    if answer.code != 0:
        how = f"exited {answer.code}" if answer.code is not None else "did not finish"
        error = f"`{command}` {how}: {answer.error}" if answer.error else f"`{command}` {how}"
    return ev.ResearchFinished(answered(), q.id, command, query, lines, error)


async def ask_all(
    plan: Plan,
    store: Store,
    run_id: str,
    values: dict[str, str],
    workdir: str,
    env: dict[str, str],
    now: float | Callable[[], float],
) -> list[ev.ResearchFinished]:
    return list(
        await asyncio.gather(
            *(ask(q, store, run_id, values, workdir, env, now) for q in plan.research)
        )
    )
