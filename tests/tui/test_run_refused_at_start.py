"""A plan refused at start (a gate no one here could pass) is refused alike however it is run:
exit 2, the same words, nothing made. Regression: `run --detach` exited 1 with the refusal
wrapped in "the engine did not start the run; its log (...)", and left an empty run directory
and a database behind (`--headless` made the database too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run

PLAN = """name: q
agents: {a: {}}
phases: [{id: p, tasks: [{id: t, run: "true"}]}]
gates: [{id: g, after: p, approvers: [no-such-user-here, daemon], quorum: 2}]
"""


@pytest.mark.parametrize("how", ["--detach", "--headless"])
def test_a_gate_no_one_could_pass_is_refused_before_anything_is_made(
    pg: Run, tmp_path: Path, how: str
) -> None:
    (tmp_path / "q.yaml").write_text(PLAN)
    done = pg("run", "q.yaml", how)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "phasegate: gate 'g' needs 2 approvals but only 1 of its approvers may give them "
        "(daemon): there is no user 'no-such-user-here' on this machine; add an approver, lower "
        "the quorum or let another user start the run; nothing was run\n"
    )
    assert not (tmp_path / "data").exists()  # (no database, no run directory)
