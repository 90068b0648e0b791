"""The dry run's critical path goes only through tasks that held up one another: a need that
ended last, or the task whose end freed the agent's slot or the resource a task waited for;
and the contention it reports names what was waited for."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasegate.engine.plan.convert import parse
from phasegate.engine.plan.model import Plan
from phasegate.engine.watch.simulate import simulate

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan(
    tasks: list[dict[str, Any]], agents: dict[str, int], resources: dict[str, int] | None = None
) -> Plan:
    data: dict[str, Any] = {
        "name": "crit",
        "agents": {a: {"slots": n} for a, n in agents.items()},
        "phases": [{"id": "p", "tasks": [{"run": "true", **t} for t in tasks]}],
    }
    if resources:
        data["resources"] = {r: {"capacity": n} for r, n in resources.items()}
    return parse(Plan, data)


def test_a_task_waiting_for_its_agents_slot_follows_the_tasks_that_held_it() -> None:
    # b1 ends when c2 starts, but on another agent: c2 waited for c's only slot (c0 then c1)
    plan = _plan(
        [
            {"id": "c0", "estimate": 2, "agent": "c"},
            {"id": "c1", "estimate": 3, "agent": "c", "needs": ["c0"]},
            {"id": "c2", "estimate": 1, "agent": "c"},
            {"id": "b1", "estimate": 5, "agent": "b"},
        ],
        {"b": 1, "c": 1},
    )
    s = simulate(plan)
    assert s.critical_path == ["c0", "c1", "c2"]
    c2 = next(x for x in s.slots if x.task == "c2")
    assert (c2.waited, c2.waited_for) == (5.0, "c")


def test_a_task_waiting_for_a_resource_follows_the_task_that_held_it() -> None:
    # x ends when q starts and is listed first, but q waited for db, which m held
    plan = _plan(
        [
            {"id": "x", "estimate": 6},
            {"id": "m", "estimate": 6, "uses": {"db": 1}},
            {"id": "q", "estimate": 1, "uses": {"db": 1}},
        ],
        {"a": 3},
        {"db": 1},
    )
    s = simulate(plan)
    assert s.critical_path == ["m", "q"]
    q = next(x for x in s.slots if x.task == "q")
    assert (q.waited, q.waited_for) == (6.0, "db")
    assert next(x for x in s.slots if x.task == "x").waited_for == ""


def test_a_task_that_did_not_wait_follows_its_need_not_a_task_ending_with_it() -> None:
    # long ends at 4 too and is longer, but d only needed n
    plan = _plan(
        [
            {"id": "long", "estimate": 4},
            {"id": "n", "estimate": 4},
            {"id": "d", "estimate": 3, "needs": ["n"]},
        ],
        {"a": 2},
    )
    assert simulate(plan).critical_path == ["n", "d"]


@st.composite
def contended(draw: st.DrawFn) -> Plan:
    """A few tasks on two agents of one or two slots and one resource, with random needs."""
    n = draw(st.integers(1, 9))
    tasks: list[dict[str, Any]] = []
    for i in range(n):
        t: dict[str, Any] = {
            "id": f"t{i}",
            "estimate": draw(st.integers(1, 6)),
            "agent": draw(st.sampled_from(["a", "b"])),
            "needs": [f"t{j}" for j in range(i) if draw(st.booleans())],
        }
        if draw(st.booleans()):
            t["uses"] = {"r": 1}
        tasks.append(t)
    agents = {"a": draw(st.integers(1, 2)), "b": draw(st.integers(1, 2))}
    return _plan(tasks, agents, {"r": draw(st.integers(1, 2))})


@SETTINGS
@given(plan=contended())
def test_each_step_of_the_critical_path_held_up_the_next(plan: Plan) -> None:
    s = simulate(plan)
    slot = {x.task: x for x in s.slots}
    needs = {t.id: set(t.needs) for _, t in plan.tasks()}
    uses = {t.id: {r for r, n in t.uses.items() if n} for _, t in plan.tasks()}
    path = s.critical_path
    assert path and slot[path[0]].start == 0.0
    assert slot[path[-1]].end == s.total
    for before, after in pairwise(path):
        b, a = slot[before], slot[after]
        assert b.end == a.start
        if a.waited > 0:  # what it waited for, freed by the task before it
            assert a.waited_for in (a.agent, *uses[after])
            if a.waited_for == a.agent:
                assert b.agent == a.agent
            else:
                assert a.waited_for in uses[before]
        else:
            assert before in needs[after]
