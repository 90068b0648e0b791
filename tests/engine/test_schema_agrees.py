"""The plan's JSON Schema (`phasegate schema`, what editors check a plan against) and the
loader take the same plans: every plan that validates (the bundled ones, the valid fixtures:
tests/engine/test_validation.py loads them) passes the schema, and a plan the loader refuses for
a value's type (a number written as text) fails it too."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from phasegate.engine.plan.model import json_schema

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted([*(ROOT / "tests/plans/valid").glob("*.yaml"), *(ROOT / "plans").glob("*.yaml")])


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_plan_that_validates_passes_the_schema(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_numbers_written_as_text_fail_both(validator: jsonschema.Draft202012Validator) -> None:
    path = ROOT / "tests/plans/invalid/quoted_numbers.yaml"
    errors = sorted(
        ".".join(map(str, e.absolute_path))
        for e in validator.iter_errors(yaml.safe_load(path.read_text()))
    )
    assert errors == [
        "agents.w.slots",
        "phases.0.budget",  # (its `anyOf`, a budget or null, is what fails)
        "phases.0.tasks.0.retries",
        "phases.0.tasks.1.worktree",
        "phases.0.tasks.2.retries",
    ]
