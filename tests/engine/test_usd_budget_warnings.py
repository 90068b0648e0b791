"""Regression: a dollar budget whose agents report no dollars silently did nothing (a codex agent
with `budget: {usd: 0.0001, action: stop}` and no `price:` validated `ok`, ran, and `show` said
`spent cost unknown`, no risk). `validate` and `run` now warn, on the budget's line; a warning,
not a problem: the plan (a run's kept plan too) still loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phasegate.engine.plan import load_plan
from phasegate.engine.plan.load import validate_file

from .helpers import write_plan

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

CODEX = """
    name: codex-budget
    agents:
      coder:
        kind: codex
        budget: {usd: 0.0001, action: stop}
    phases:
      - id: p
        tasks:
          - {id: fix, agent: coder, prompt: "fix it"}
    """


def _warnings(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    problems = validate_file(str(write_plan(tmp_path, text)))
    assert all(p.warning for p in problems), problems  # (the plan is valid)
    return [(p.line, p.key, p.message) for p in problems]


def test_a_codex_agent_s_usd_budget_without_a_price_is_warned_on_its_line(
    tmp_path: Path,
) -> None:
    assert _warnings(tmp_path, CODEX) == [
        (
            6,
            "agents.coder.budget.usd",
            "this usd budget cannot be measured, so it never warns or stops: agent 'coder' "
            "(kind codex) reports tokens, not dollars, and has no `price:`; give it "
            "`price: {input: USD, output: USD}` (USD per million tokens), or budget `tokens:` "
            "instead (kind claude reports dollars itself)",
        )
    ]
    plan = load_plan(str(tmp_path / "plan.yaml"))  # still a plan: it loads, and runs
    assert [w.key for w in plan.warnings] == ["agents.coder.budget.usd"]


@pytest.mark.parametrize(
    "agent",
    [
        "{kind: codex, price: {input: 1.25, output: 10}}",
        "{kind: gemini, price: {input: 1.25, output: 10}}",
        "{kind: acp, binary: my-agent, price: {input: 1, output: 2}}",
        "{kind: claude}",  # Claude Code reports `total_cost_usd` itself
    ],
)
def test_an_agent_that_reports_or_prices_dollars_is_not_warned(tmp_path: Path, agent: str) -> None:
    text = f"""
    name: measured
    budget: {{usd: 50}}
    agents:
      coder: {agent}
    phases:
      - id: p
        budget: {{usd: 10}}
        tasks:
          - {{id: fix, agent: coder, prompt: "fix it", budget: {{usd: 1}}}}
    """
    assert _warnings(tmp_path, text.replace("coder: {", "coder: {budget: {usd: 5}, ", 1)) == []


def test_a_run_phase_or_task_budget_is_warned_when_none_of_its_agents_tells_dollars(
    tmp_path: Path,
) -> None:
    text = """
    name: scopes
    budget: {usd: 5}
    agents:
      cx: {kind: codex, capabilities: [code]}
      gm: {kind: gemini, capabilities: [code]}
      sh: {command: "sh -c {script}"}
      cl: {kind: claude, capabilities: [review]}
    phases:
      - id: build
        budget: {usd: 2}
        tasks:
          - {id: fix, capability: code, run: "fix it", budget: {usd: 0.5}}
          - {id: make, agent: sh, run: make, budget: {usd: 0.5}}
      - id: review
        budget: {usd: 2}
        tasks:
          - {id: look, capability: review, run: "review it", budget: {tokens: 1000}}
    """
    found = _warnings(tmp_path, text)
    # the run has a claude agent (it reports dollars), so has the phase `review`: no warning
    assert [(line, key) for line, key, _ in found] == [
        (11, "phases[0].budget.usd"),
        (13, "phases[0].tasks[0].budget.usd"),
        (14, "phases[0].tasks[1].budget.usd"),
    ]
    messages = [m for _, _, m in found]
    assert "the tasks of phase 'build' run on agents (cx, gm, sh), none of which" in messages[0]
    assert "task 'fix' runs on agents (cx, gm), none of which reports dollars" in messages[1]
    assert "give its codex, gemini or acp agents `price: {input: USD" in messages[1]
    assert (
        "task 'make' runs on agent 'sh' (kind command), which reports no spending; dollars "
        "are counted for coding agents only" in messages[2]
    )


def test_a_run_budget_with_no_agent_telling_dollars_is_warned(tmp_path: Path) -> None:
    text = """
    name: run-budget
    budget: {usd: 5, action: pause}
    agents:
      coder: {kind: codex}
    phases:
      - id: p
        tasks: [{id: fix, run: "fix it"}]  # (its only agent takes it)
    """
    found = _warnings(tmp_path, text)
    assert [(line, key) for line, key, _ in found] == [(3, "budget.usd")]
    assert "the plan's tasks run on agent 'coder' (kind codex), which reports tokens" in found[0][2]


WARNED = "6: agents.coder.budget.usd: warning: this usd budget cannot be measured"


def _phasegate(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "data" / "pg.db"), "NO_COLOR": "1"}
    done = subprocess.run([PHASEGATE, *args], capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_the_dry_run_print_the_warning(tmp_path: Path, command: str) -> None:
    path = write_plan(tmp_path, CODEX)
    code, out = _phasegate(tmp_path, command, str(path))
    assert code == 0, out
    assert f"{path}:{WARNED}" in out
    if command == "validate":
        assert f"{path}: ok (1 warning)" in out


@pytest.mark.slow
def test_run_prints_the_warning_before_it_starts(tmp_path: Path) -> None:
    # (no codex here: `binary: "false"`, the task fails at once; the warning is what counts)
    path = write_plan(
        tmp_path, CODEX.replace("kind: codex", 'kind: codex\n        binary: "false"')
    )
    code, out = _phasegate(tmp_path, "run", "--headless", str(path))
    assert f"{path}:7: agents.coder.budget.usd: warning: this usd budget" in out, out
    assert code in (0, 1), out  # (a valid plan: it ran)
