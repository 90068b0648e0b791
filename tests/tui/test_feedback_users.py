"""Stakeholder feedback from real OS users (issue 20, point 2): on a shared run whose plan asks
one of them at a gate, the asked user's answers reach the engine through its socket and carry
the uid the kernel vouched for; a user who is not asked is refused with the reason (exit 1),
while the run is live and after it ended. Users are made as in test_shared_runs."""

from __future__ import annotations

import json
import pwd
from pathlib import Path

import pytest

from .test_shared_runs import (  # noqa: F401 (the fixtures)
    ALICE,
    GROUP,
    MALLORY,
    STARTER,
    Pg,
    _start,
    pytestmark,
    shared,
    team,
)

PLAN = f"""
name: shared-feedback
share: {GROUP}
agents: {{a: {{}}}}
phases:
  - id: build
    tasks: [{{id: make, run: "echo built"}}]
  - id: ship
    tasks: [{{id: deploy, run: "echo shipped"}}]
gates:
  - {{id: review, after: build, approvers: [{STARTER}]}}
feedback: {{ask: [{ALICE}], at: review}}
"""


@pytest.mark.slow
def test_the_asked_user_answers_and_one_not_asked_is_refused(
    shared: tuple[Path, Pg],  # noqa: F811 (the fixture)
) -> None:
    place, pg = shared
    run_id = _start(place, pg, PLAN)
    given = pg(ALICE, "feedback", run_id, "--rating", "4", "--comment", "on track")
    assert given.returncode == 0, given.stderr
    refused = pg(MALLORY, "feedback", run_id, "--rating", "1")
    assert refused.returncode == 1
    assert f"{MALLORY} is not asked for feedback" in refused.stderr and ALICE in refused.stderr
    assert pg(STARTER, "approve", run_id, "review", "--reason", "ok").returncode == 0
    from .conftest import until

    until("the run to end", lambda: '"succeeded"' in pg(STARTER, "show", run_id, "--json").stdout)
    after = pg(MALLORY, "feedback", run_id, "--rating", "1")
    assert after.returncode == 1 and "is not asked" in after.stderr
    shown = json.loads(pg(STARTER, "show", run_id, "--json").stdout)
    [answer] = shown["feedback"]
    assert (answer["user"], answer["uid"]) == (ALICE, pwd.getpwnam(ALICE).pw_uid)
    assert (answer["rating"], answer["comment"]) == (4, "on track")
    assert shown["metrics"]["stakeholder_satisfaction"] == 80.0
    audit = pg(STARTER, "audit", run_id, "--json")
    rows = json.loads(audit.stdout)
    rows = rows["audit"] if isinstance(rows, dict) else rows
    assert any(r["decision"] == "feedback" and r["accepted"] for r in rows)
    assert any(r["decision"] == "feedback" and not r["accepted"] and r["user"] == MALLORY
               for r in rows)  # fmt: skip
