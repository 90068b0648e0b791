"""Estimates learned from history: each task's median and p90 duration over the plan's earlier
successful runs, which take the place of the plan's `estimate` (its fallback) in the forecast,
the overrun rule and the dry run; and how long each manual gate waited for its decision (kept
under `gate:ID`, as no task id holds a colon), which the forecast and the dry run expect; what
each task's coding agents cost (dollars, under `cost:ID`), which budgets admit it with; and the
time its failed attempts took before it succeeded (under `retry:ID`, kept only for the runs that
needed a retry), which the forecast and the dry run add to it on average."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from phasegate.engine.store.base import Store

MIN_RUNS = 1  # earlier durations needed before history speaks for a task


class Learned(msgspec.Struct, frozen=True):
    median: float
    p90: float
    runs: int
    total: float = 0.0  # (the sum: an average over other runs than these, as retries need)


def summarise(seconds: list[float]) -> Learned:
    ordered = sorted(seconds)
    n = len(ordered)
    p90 = ordered[min(n - 1, int(0.9 * n))]
    # (statistics.median's own arithmetic; that module's import cost every run 2 ms)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return Learned(median, p90, n, sum(ordered))


async def learned(store: Store, plan: str, before: float | None = None) -> dict[str, Learned]:
    """What earlier runs of the plan took, task by task (`before`: runs recorded before then,
    as a past run's report sees the history it started with)."""
    found = await store.durations(plan, before=before)
    return {task: summarise(s) for task, s in found.items() if len(s) >= MIN_RUNS}


GATE = "gate:"  # the prefix of a gate's waits among the tasks' durations


def gate_key(gate: str) -> str:
    return GATE + gate


def gate_waits(learned: dict[str, Learned]) -> dict[str, float]:
    """gate id -> the median of its earlier waits for a decision (only waits that ended in
    one are kept: not one the run's stop cut short, engine/report/knowledge.py)."""
    return {k[len(GATE) :]: v.median for k, v in learned.items() if k.startswith(GATE)}


COST = "cost:"  # the prefix of a task's costs (dollars) among the tasks' durations


def cost_key(task: str) -> str:
    return COST + task


def costs(learned: dict[str, Learned]) -> dict[str, float]:
    """task id -> the median of what it cost in earlier runs (dollars)."""
    return {k[len(COST) :]: v.median for k, v in learned.items() if k.startswith(COST)}


RETRY = "retry:"  # the prefix of a task's time lost to failed attempts (runs that retried it)


def retry_key(task: str) -> str:
    return RETRY + task


def estimates(learned: dict[str, Learned]) -> dict[str, float]:
    """task id -> the estimate history gives it: its median attempt and what its failed
    attempts took before it on average (`retry_extra`). What the dry run simulates and the
    engine orders its ready tasks by (the longest path first), in place of the plan's."""
    extra = retry_extra(learned)
    return {k: v.median + extra.get(k, 0.0) for k, v in learned.items() if ":" not in k}


def retry_extra(learned: dict[str, Learned]) -> dict[str, float]:
    """task id -> the time its failed attempts took before it succeeded, on average over the
    earlier runs in which it succeeded (0 in those that needed no retry): a task that fails
    one run in two, losing 10 s when it does, is expected to take its median and 5 s more."""
    out: dict[str, float] = {}
    for k, v in learned.items():
        if k.startswith(RETRY) and (own := learned.get(k[len(RETRY) :])) is not None:
            out[k[len(RETRY) :]] = v.total / max(own.runs, v.runs)
    return out


def tasks_learned(learned: dict[str, Learned]) -> int:
    """How many tasks have a duration from history (gates' waits, costs and retries are kept
    beside them under a prefix with a colon, which no task id holds)."""
    return sum(1 for k in learned if ":" not in k)


def estimate_fields(
    task: str, own: float | None, learned: dict[str, Learned], extra: dict[str, float]
) -> dict[str, object]:
    """A task's estimate as the run's start (and an amendment) carries it: the median of its
    earlier successful runs, with their p90, and what their failed attempts took before them
    on average (`extra`, from `retry_extra`), when history has them; else the plan's (`own`)."""
    found = learned.get(task)
    if found is None:
        return {"estimate": own}
    retry = {"retry_s": round(extra[task], 3)} if extra.get(task) else {}
    return {"estimate": found.median, "p90": found.p90, "history": found.runs, **retry}
