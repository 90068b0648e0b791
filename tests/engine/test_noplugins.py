"""pydantic's search for plugins is left out of start-up (engine/plan/noplugins.py): loading a
plan must not import importlib.metadata nor read every installed package's entry points, and
the opt-out gives pydantic its own loader back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from phasegate.engine.plan import load_plan
plan = load_plan(sys.argv[1])
assert plan.name == "probe"
loader = sys.modules["pydantic.plugin._loader"]
print("metadata" if "importlib.metadata" in sys.modules else "no-metadata")
print("real" if hasattr(loader, "entry_points") else "stub")
print("answers" if list(loader.get_plugins()) == [] else "plugins")
"""


def _probe(tmp_path: Path, **env: str) -> list[str]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        'name: probe\nagents: {w: {}}\nphases: [{id: p, tasks: [{id: t, run: "true"}]}]\n'
    )
    environ = {k: v for k, v in os.environ.items() if k != "PHASEGATE_PYDANTIC_PLUGINS"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(plan)],
        env=environ | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_loading_a_plan_reads_no_package_metadata(tmp_path: Path) -> None:
    assert _probe(tmp_path) == ["no-metadata", "stub", "answers"]


def test_the_opt_out_keeps_pydantics_own_loader(tmp_path: Path) -> None:
    # (pydantic's own loader, under the name the stub takes, asked as pydantic asks it: a
    # pydantic that moved or renamed it would leave the stub silently unused)
    assert _probe(tmp_path, PHASEGATE_PYDANTIC_PLUGINS="1") == ["metadata", "real", "answers"]


def test_a_zero_does_not_opt_out(tmp_path: Path) -> None:
    assert _probe(tmp_path, PHASEGATE_PYDANTIC_PLUGINS="0") == ["no-metadata", "stub", "answers"]
