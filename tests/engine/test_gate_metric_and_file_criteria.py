"""A gate's `metric:` criterion is a checked shape (`run`, `min`, `max`): validate reports a bound
that is no number, a misspelt key (with "did you mean"), an unknown `{variable}` in its `run` and
`min` above `max`, instead of a run that crashes at the gate; and the gate's evaluation never
raises on a value. A `file:` criterion's evidence names the file it looked at."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from phasegate.engine.plan import validate_file
from phasegate.engine.plan.model import Criterion
from phasegate.engine.run import gates

from .helpers import run_plan, write_plan

PLAN = """
    name: m
    agents: {{w: {{}}}}
    vars: {{x: out}}
    phases:
      - id: p
        tasks: [{{id: t1, run: "true"}}]
    gates:
      - id: g
        after: p
        approval: auto
        criteria: [{criteria}]
    """


def _messages(tmp_path: Path, criteria: str) -> list[str]:
    path = write_plan(tmp_path, PLAN.format(criteria=criteria))
    return [f"{p.key}: {p.message}" for p in validate_file(str(path)) if not p.warning]


def test_a_metric_bound_that_is_no_number_is_refused(tmp_path: Path) -> None:
    assert _messages(tmp_path, '{metric: {run: "echo 5", min: "high"}}') == [
        "gates[0].criteria[0].metric.min: must be a number, got text 'high'"
    ]


def test_misspelt_metric_keys_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    said = _messages(tmp_path, '{metric: {rn: "echo 5", mn: 80}}')
    assert "gates[0].criteria[0].metric.rn: unknown key 'rn'; did you mean 'run'? " in (
        "\n".join(said)
    ), said
    assert any(m.startswith("gates[0].criteria[0].metric.mn: unknown key 'mn'; did you mean 'min'")
               for m in said), said  # fmt: skip


def test_an_unknown_variable_in_a_metric_command_is_reported(tmp_path: Path) -> None:
    said = _messages(tmp_path, '{metric: {run: "echo {nope}", min: 1}}')
    assert [m.split(";")[0] for m in said] == [
        "gates[0].criteria[0].metric.run: unknown variable {nope}"
    ]


def test_metric_min_above_max_is_refused(tmp_path: Path) -> None:
    assert _messages(tmp_path, '{metric: {run: "echo 5", min: 9, max: 1}}') == [
        "gates[0].criteria[0].metric: `min` is above `max`"
    ]


async def test_a_metric_with_good_bounds_runs_and_passes(tmp_path: Path) -> None:
    state, _ = await run_plan(tmp_path, PLAN.format(criteria='{metric: {run: "echo 5", min: 1}}'))
    gate = state.gates["g"]
    assert [(c["passed"], c["detail"]) for c in gate.criteria] == [(True, "5 (wanted >= 1)")]
    assert state.status.value == "succeeded"


async def _evaluate(tmp_path: Path, criterion: Criterion, values: dict[str, str]) -> Any:
    return await gates.evaluate([criterion], str(tmp_path), {}, values)


async def test_a_metric_bound_that_is_no_number_fails_the_criterion_without_raising(
    tmp_path: Path,
) -> None:
    spec: Any = SimpleNamespace(run="echo 5", min="high", max=None)  # (not through the model)
    found = await _evaluate(tmp_path, Criterion(metric=spec), {})
    assert [(r["passed"], r["detail"]) for r in found] == [
        (False, "its bounds are not numbers: 'high' is not a number")
    ]


async def test_a_file_criterion_names_the_file_it_looked_at(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text("")
    (tmp_path / "plain.txt").write_text("x")
    filled = await _evaluate(tmp_path, Criterion(file="{x}.txt"), {"x": "out"})
    assert [(r["spec"], r["detail"]) for r in filled] == [("out.txt ({x}.txt)", "empty")]
    plain = await _evaluate(tmp_path, Criterion(file="plain.txt"), {"x": "out"})
    assert [(r["spec"], r["detail"]) for r in plain] == [("plain.txt", "1 byte")]
