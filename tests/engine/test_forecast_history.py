"""History in the estimates: the time a task's retries took in earlier runs (counted in the dry
run and the forecast until the task fails), and what an amendment keeps of the history or
takes from the plan."""

from __future__ import annotations

from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import apply
from phasegate.engine.model.state import RunState
from phasegate.engine.plan.dag import build
from phasegate.engine.watch.forecast import forecast

from .forecasting import CHAIN, GATED
from .forecasting import plan_of as _plan
from .forecasting import started as _started


def test_retries_count_in_the_dry_run_on_average_over_the_runs_that_succeeded(
    tmp_path: Path,
) -> None:
    """A task that needed a retry in two of its four earlier runs, losing 10 s in all to failed
    attempts, is expected to take its median and 2.5 s more: the dry run said its median alone
    (a task that fails once was forecast short)."""
    from phasegate.engine.watch.history import Learned, retry_extra, summarise
    from phasegate.engine.watch.simulate import projected
    from phasegate.tui.cli.dryrun import render

    history = {"c": summarise([40.0, 40.0, 40.0, 40.0]), "retry:c": summarise([4.0, 6.0])}
    assert retry_extra(history) == {"c": 2.5}
    assert retry_extra({"retry:c": Learned(9.0, 9.0, 1, 9.0)}) == {}  # (no run of its own)
    plan = _plan(tmp_path, CHAIN)
    after = projected(plan, history)
    assert after.total == 42.5 and after.critical_path == ["c"]
    shown = render(plan, as_json=False, width=80, learned=history)
    assert "dry run of chain: 42.5s" in shown
    assert "retries counted" in shown and "c +2.5s" in shown
    assert "retries counted" not in render(plan, as_json=False, width=80, learned={})


def test_the_forecast_adds_a_task_s_retries_until_it_fails(tmp_path: Path) -> None:
    """History says y's failed attempts cost 7 s on average: counted while y waits and while
    its first attempt runs (it may yet fail: it dropped them as it started, the forecast fell
    7 s for nothing); once it has failed, its retry is the next attempt, its estimate."""
    plan = _plan(tmp_path, CHAIN.replace("name: chain", "name: retried"))
    state = _started(plan)
    state.tasks["c"].retry_s = 7.0  # (as the run's start puts it there from history)
    assert forecast(plan, build(plan), state, 0.0).eta == 15.0  # (a, b: 15 s; c 1 + 7 beside)
    state.tasks["a"].retry_s = 7.0
    waiting = forecast(plan, build(plan), state, 0.0).eta
    assert waiting == 22.0  # a 10 + 7, then b 5
    apply(state, ev.TaskStarted(0.0, "a", 1, "a", 1, 1))
    assert forecast(plan, build(plan), state, 0.0).eta == waiting  # running: it may yet fail
    apply(state, ev.TaskFinished(4.0, "a", 1, "failed", 1))
    apply(state, ev.TaskRetrying(4.0, "a", 2, 0.0))
    assert forecast(plan, build(plan), state, 4.0).eta == 15.0  # one more attempt, then b


def test_a_phase_s_cached_length_follows_a_failure_in_it(tmp_path: Path) -> None:
    """The forecast keeps the length of each phase not started; once a task of it has failed
    (a gate sent the run back, say), its retries are no longer expected: not the cached
    length that counted them."""
    plan = _plan(tmp_path, GATED)
    state = _started(plan)
    state.tasks["y"].retry_s = 7.0
    cache: dict[tuple[object, ...], float] = {}
    assert forecast(plan, build(plan), state, 0.0, cache=cache).eta == 22.0
    state.tasks["y"].failures = 1  # (pending again after a rewind, its failure kept)
    assert forecast(plan, build(plan), state, 0.0, cache=cache).eta == 15.0


def test_an_amendment_keeps_the_history_s_estimates_of_the_tasks_whose_work_it_kept(
    tmp_path: Path,
) -> None:
    """Any amendment put every task back on the plan's estimates: the forecast forgot what the
    plan's earlier runs had taught (their medians and retries) for tasks it had not touched.
    A task whose work it changed takes the plan's: those runs did other work."""
    from phasegate.engine.run.amend import shape
    from phasegate.engine.watch.history import summarise

    plan = _plan(tmp_path, CHAIN)
    learned = {
        "a": summarise([20.0, 20.0]),
        "retry:a": summarise([4.0]),
        "c": summarise([3.0, 3.0]),
    }
    fields = shape(plan, [], learned, {"c"})
    tasks = {t["id"]: t for t in fields["tasks"]}
    assert (tasks["a"]["estimate"], tasks["a"]["p90"], tasks["a"]["retry_s"]) == (20.0, 20.0, 2.0)
    assert tasks["b"]["estimate"] == 5 and tasks["b"]["p90"] is None
    assert tasks["c"]["estimate"] == 1 and tasks["c"]["p90"] is None  # (its work changed)
    state = _started(plan, {"c": 3.0})
    state.tasks["c"].p90 = 3.0
    apply(state, ev.PlanAmended(1.0, "change-1", 2, "bob", "text", [], **fields))
    a, c = state.tasks["a"], state.tasks["c"]
    assert (a.estimate, a.p90, a.retry_s) == (20.0, 20.0, 2.0)
    assert (c.estimate, c.p90) == (1, None)


def test_which_tasks_an_amendment_reworked_or_re_estimated() -> None:
    """Their history does not speak for them: a task added (it may have been removed and added
    back with other work), a task whose command changed, the tasks of an agent whose command
    or model changed (not its slots alone); and an estimate the operator changed stands."""
    from phasegate.engine.plan.amend import estimated, reworked

    def one(*diff: dict[str, object]) -> list[dict[str, object]]:
        return [{"diff": list(diff)}]

    assert reworked(one({"what": "task", "id": "c", "change": "added"})) == {"c"}
    assert reworked(one({"what": "task", "id": "c", "change": "removed"})) == set()
    run = {"what": "task", "id": "a", "change": "changed", "fields": {"run": ["x", "y"]}}
    assert reworked(one(run)) == {"a"}
    model = {"what": "agent", "id": "w", "change": "changed", "fields": {"model": ["m1", "m2"]}}
    assert reworked(one(model), {"a": "w", "b": "x", "c": None}) == {"a"}
    slots = {"what": "agent", "id": "w", "change": "changed", "fields": {"slots": [1, 2]}}
    assert reworked(one(slots), {"a": "w"}) == set()
    guess = {"what": "task", "id": "a", "change": "changed", "fields": {"estimate": [10, 500]}}
    assert estimated(one(guess)) == {"a"} and reworked(one(guess)) == set()


def test_an_amendment_recorded_before_history_was_carried_keeps_the_p90() -> None:
    state = RunState()
    from phasegate.engine.model.state import TaskState

    state.tasks["a"] = TaskState("a", "p", estimate=4.0, p90=9.0)
    tasks = [{"id": "a", "phase": "p", "agent": "w", "needs": [], "estimate": 4.0}]
    apply(state, ev.PlanAmended(1.0, "change-1", 2, "bob", "text", [], tasks=tasks))
    assert state.tasks["a"].p90 == 9.0  # (the overrun rule goes on using it)


def test_show_json_says_what_the_forecast_expects_of_each_task(tmp_path: Path) -> None:
    state = _started(_plan(tmp_path, CHAIN), {"a": 12.0})
    state.tasks["a"].p90, state.tasks["a"].retry_s = 15.0, 2.5
    shown = {t: s.as_dict() for t, s in state.tasks.items()}
    assert (shown["a"]["estimate"], shown["a"]["p90"], shown["a"]["retry_s"]) == (12.0, 15.0, 2.5)
    assert shown["b"]["estimate"] == 5 and shown["b"]["p90"] is None and "retry_s" not in shown["b"]
