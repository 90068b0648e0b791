"""Who on this machine can decide a gate (engine/plan/deciders.py), on a machine the test
describes: the people a gate's approvers name who exist, less a starter it forbids, less those
who cannot reach a shared run; and `validate`'s warnings of what `run` would refuse here."""

from __future__ import annotations

from typing import Any

import pytest

from phasegate.engine.plan.deciders import Accounts, approver_warnings, shortfall


class Machine(Accounts):
    """A machine's accounts as the test says: users by uid, groups by gid with their members."""

    def __init__(self, users: dict[str, int], groups: dict[str, tuple[int, set[str]]]) -> None:
        super().__init__()
        self._users, self._groups = users, groups

    def uid(self, user: str) -> int | None:
        return self._users.get(user)

    def group(self, name: str) -> int | None:
        return self._groups[name][0] if name in self._groups else None

    def members(self, gid: int) -> set[str]:
        return next((m for g, m in self._groups.values() if g == gid), set())

    def group_name(self, gid: int) -> str:
        return next(n for n, (g, _) in self._groups.items() if g == gid)


HERE = Machine(
    {"root": 0, "alice": 1001, "bob": 1002, "carol": 1003, "eve": 1004},
    {
        "team": (2000, {"alice", "bob", "carol"}),
        "alice": (1001, {"alice"}),  # (her own group)
        "empty": (2001, set()),
    },
)
TEAM = 2000


@pytest.mark.parametrize(
    ("approvers", "quorum", "forbid", "share", "why"),
    [
        (
            ["group:nosuchgrp"],
            1,
            False,
            None,
            "gate 'g' needs 1 approval but only 0 of its approvers may give them (none): "
            "there is no group 'nosuchgrp' on this machine",
        ),
        (
            ["eve", "bob"],
            2,
            False,
            TEAM,
            "gate 'g' needs 2 approvals but only 1 of its approvers may give them (bob): "
            "eve cannot reach the run: not in group team, which it is shared with",
        ),
        (
            ["nosuchuser", "bob"],
            2,
            False,
            None,
            "gate 'g' needs 2 approvals but only 1 of its approvers may give them (bob): "
            "there is no user 'nosuchuser' on this machine",
        ),
    ],
    ids=["unknown-group", "not-in-share", "unknown-user"],
)
def test_a_quorum_the_people_here_cannot_reach_is_named(
    approvers: list[str], quorum: int, forbid: bool, share: int | None, why: str
) -> None:
    assert shortfall("g", approvers, quorum, forbid, "alice", share, HERE) == why


@pytest.mark.parametrize(
    ("approvers", "quorum", "forbid", "share"),
    [
        ([], 3, True, TEAM),  # (anyone may decide)
        (["group:team"], 2, True, TEAM),  # bob and carol
        (["alice", "eve"], 2, False, None),  # (not shared: as before)
        (["alice", "root"], 2, False, TEAM),  # (the starter reaches its run; root reaches any)
        (["nosuchuser", "bob"], 1, False, None),  # (one of them is enough)
        # a group that exists may hold more people than the machine lists (a directory
        # service need not enumerate its members): its quorum is not judged here
        (["group:alice"], 1, True, None),
        (["group:empty", "bob"], 2, False, None),
        (["group:team"], 3, True, None),
    ],
)
def test_a_quorum_the_people_here_can_reach_passes(
    approvers: list[str], quorum: int, forbid: bool, share: int | None
) -> None:
    assert shortfall("g", approvers, quorum, forbid, "alice", share, HERE) == ""


def test_validate_warns_of_what_run_would_refuse_here() -> None:
    data: dict[str, Any] = {
        "share": "team",
        "gates": [
            {"id": "a", "approvers": ["eve", "bob"], "quorum": 2},
            {"id": "b", "approvers": ["nosuchuser", "bob", "group:nosuchgrp", "group:empty"]},
            {"id": "c", "approvers": ["group:alice"], "forbid_self_approval": True},
            {"id": "d", "approvers": ["bob", "carol"], "quorum": 2},
        ],
    }
    found = [(f.path, f.message) for f in approver_warnings(data, HERE, starter="alice")]
    assert found == [
        (
            ("gates", 0, "approvers"),
            "gate 'a' needs 2 approvals but only 1 of its approvers may give them (bob): eve "
            "cannot reach the run: not in group team, which it is shared with; `phasegate run` "
            "would refuse it here, started by alice",
        ),
        (("gates", 1, "approvers", 0), "there is no user 'nosuchuser' on this machine"),
        (("gates", 1, "approvers", 2), "there is no group 'nosuchgrp' on this machine"),
        (("gates", 1, "approvers", 3), "group 'empty' has no members"),
        # (gate c: group alice may hold more than this machine lists: not judged)
    ]


def test_validate_warns_of_tool_request_approvers_and_roles_that_are_no_one_here() -> None:
    """Who answers an agent's tool requests, operates the run or decides its amendments: a
    name that is no one on this machine is warned of as a gate's approver is (it was not)."""
    data: dict[str, Any] = {
        "roles": {"operators": ["bob", "nosuchop", "group:nosuchgrp"], "changes": ["carol"]},
        "agents": {
            "coder": {"kind": "claude", "permissions": {"approvers": ["alicex", "group:team"]}},
            "sh": {},
        },
    }
    found = [(f.path, f.message) for f in approver_warnings(data, HERE, starter="alice")]
    assert found == [
        (
            ("agents", "coder", "permissions", "approvers", 0),
            "there is no user 'alicex' on this machine",
        ),
        (("roles", "operators", 1), "there is no user 'nosuchop' on this machine"),
        (("roles", "operators", 2), "there is no group 'nosuchgrp' on this machine"),
    ]
