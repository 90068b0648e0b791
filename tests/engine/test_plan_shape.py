"""The plan's data against its model (engine/plan/convert.py): msgspec stops at the first problem,
yet a user gets every problem of a plan in one pass, each on its key, never a traceback."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phasegate.engine.model.errors import PlanError
from phasegate.engine.plan import load_plan
from phasegate.engine.plan.convert import MAX_PROBLEMS, convert, parse
from phasegate.engine.plan.model import Plan, RiskSettings, Task

GOOD: dict[str, Any] = {
    "name": "p",
    "agents": {"builder": {"slots": 2}, "tester": {}},
    "resources": {"db": {"capacity": 1}},
    "phases": [
        {
            "id": "build",
            "timebox": "1h",
            "tasks": [
                {"id": "a", "run": "make", "estimate": "90s", "retries": 1},
                {"id": "b", "run": "make test", "needs": ["a"], "uses": {"db": 1}},
            ],
        }
    ],
    "gates": [{"id": "g", "after": "build", "timeout": "5m"}],
    "risks": {"gate_wait": "30m", "actions": {"task_overrun": "pause"}},
    "output_cap": "2MiB",
}


def test_a_good_plan_converts_with_its_durations_and_sizes_read() -> None:
    plan, issues = convert(copy.deepcopy(GOOD))
    assert issues == [] and isinstance(plan, Plan)
    assert plan.phases[0].timebox == 3600 and plan.phases[0].tasks[0].estimate == 90
    assert plan.gates[0].timeout == 300 and plan.risks.gate_wait == 1800
    assert plan.output_cap == 2 * 1024 * 1024
    assert plan.agents["builder"].slots == 2 and plan.agents["tester"].slots == 1


def test_the_data_read_is_left_as_the_file_said() -> None:
    data = copy.deepcopy(GOOD)
    convert(data)
    assert data == GOOD  # (the semantic checks read it after: durations still as written)


def test_every_problem_in_one_pass_each_on_its_own_key() -> None:
    data = copy.deepcopy(GOOD)
    data["agents"]["builder"]["slots"] = 0  # a mapping's value: msgspec says only `[...]`
    data["agents"]["tester"]["slot"] = 2
    data["phases"][0]["tasks"][0]["retries"] = "three"
    data["phases"][0]["tasks"][1]["on_failure"] = "ignore"
    data["phases"][0]["tasks"][1].pop("run")
    data["gates"][0]["timeout"] = "later"
    data["risks"]["actions"]["gate_wait"] = "explode"
    _, issues = convert(data)
    found = {(i.path, i.kind) for i in issues}
    assert found == {
        (("agents", "builder", "slots"), "bound"),
        (("agents", "tester", "slot"), "extra"),
        (("phases", 0, "tasks", 0, "retries"), "type"),
        (("phases", 0, "tasks", 1, "on_failure"), "literal"),
        (("phases", 0, "tasks", 1), "value"),  # neither run nor prompt
        (("gates", 0, "timeout"), "value"),
        (("risks", "actions", "gate_wait"), "literal"),
    }


def test_a_bad_key_of_a_mapping_is_named() -> None:
    data = copy.deepcopy(GOOD)
    data["agents"]["code review"] = {}
    data["resources"][7] = {}
    _, issues = convert(data)
    assert {(i.path, i.key) for i in issues} == {
        (("agents", "code review"), True),
        (("resources", 7), True),
    }


def test_a_hopeless_plan_stops_with_a_word_not_a_hang() -> None:
    data = copy.deepcopy(GOOD)
    data["phases"][0]["tasks"] = [{"id": f"t{i}", "run": "x", "retries": -1} for i in range(500)]
    _, issues = convert(data)
    assert len(issues) == MAX_PROBLEMS + 1
    assert issues[-1].said.startswith(f"stopped after {MAX_PROBLEMS} problems")


def test_parse_reads_a_part_as_a_plan_file_writes_it() -> None:
    assert parse(RiskSettings, {"gate_wait": "30s"}).gate_wait == 30
    with pytest.raises(ValueError) as caught:
        parse(Task, {"id": "t", "run": "x", "retries": -1, "timeout": "zz", "needs": "a"})
    assert all(k in str(caught.value) for k in ("retries:", "timeout:", "needs:"))


def test_a_loaded_plan_keeps_where_it_came_from_through_pickle_and_copy(tmp_path: Path) -> None:
    """The launcher pickles the plan to the engine process: its text (kept with the run, for
    resume) and its directory (where tasks run) must survive."""
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nagents: {a: {}}\nphases: [{id: x, tasks: [{id: t, run: 'true'}]}]\n")
    plan = load_plan(str(path))
    for again in (pickle.loads(pickle.dumps(plan)), copy.copy(plan)):
        assert again == plan
        assert (again.path, again.base_dir, again.text) == (str(path), str(tmp_path), plan.text)
        assert again.text.startswith("name: p")


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=5)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*here, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*here, i))
    return out


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_value_anywhere_gives_problems_or_a_plan_never_an_exception(
    data: st.DataObject,
) -> None:
    plan = copy.deepcopy(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.sampled_from(_paths(plan)[1:]))
        *parents, last = where
        holder: Any = plan
        for part in parents:
            holder = holder[part]
        if data.draw(st.booleans()) and isinstance(holder, dict):
            holder[data.draw(st.text(max_size=6))] = data.draw(_values)  # a new key
        else:
            holder[last] = data.draw(_values)
    made, issues = convert(plan)
    assert (made is None) == bool(issues)
    assert len(issues) <= MAX_PROBLEMS + 1
    for issue in issues:
        assert issue.said  # each says what is wrong
    if made is None:  # and the loader places and words each of them, or raises PlanError only
        import yaml

        from phasegate.engine.plan.load import plan_from_text

        text = yaml.safe_dump(plan) if _dumpable(plan) else None
        if text is not None:
            with pytest.raises(PlanError):
                plan_from_text(text, "p.yaml", ".")


def _dumpable(data: Any) -> bool:
    import yaml

    try:
        yaml.safe_dump(data)
    except yaml.YAMLError:
        return False
    return True
