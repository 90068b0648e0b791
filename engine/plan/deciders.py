"""Who on this machine can decide a gate: its approvers that exist (users, the members of its
groups), less the run's starter when the gate forbids self-approval, less those who cannot
reach a shared run's socket (neither in its group nor its starter); and why a quorum is out
of their reach. `run` and `amend` refuse such a gate; `validate` warns (`approver_warnings`)."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from phasegate.engine.plan.flaws import Flaw, dicts, mapping
from phasegate.engine.plan.messages import cut

SHOWN = 6  # names listed in a message; the rest are counted


class Accounts:
    """The users and groups of this machine, read once per check (a seam: tests give theirs).
    A group's members are those it lists and those whose primary group it is."""

    def __init__(self) -> None:
        self._primary: dict[int, set[str]] | None = None

    def uid(self, user: str) -> int | None:
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            return None

    def group(self, name: str) -> int | None:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    def members(self, gid: int) -> set[str]:
        try:
            listed = set(grp.getgrgid(gid).gr_mem)
        except KeyError:
            return set()
        if self._primary is None:
            self._primary = {}
            for entry in pwd.getpwall():
                self._primary.setdefault(entry.pw_gid, set()).add(entry.pw_name)
        return listed | self._primary.get(gid, set())

    def in_group(self, user: str, gid: int) -> bool:
        """Is `user` a member of group `gid`, as the system's user database says (its groups
        asked of it: a directory service need not list a group's members)?"""
        try:
            return gid in os.getgrouplist(user, pwd.getpwnam(user).pw_gid)
        except (KeyError, OSError):
            return user in self.members(gid)

    def group_name(self, gid: int) -> str:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)


class Reach(NamedTuple):
    """Who may decide a gate here (`deciders`: the users it lists), and why the others named by
    it may not; `unbounded`: a group of it exists, whose members may be more than the machine
    lists (a directory service need not enumerate them): its quorum is not judged here."""

    deciders: list[str]
    missing: list[str]
    unbounded: bool = False


def reach(
    approvers: Sequence[str],
    forbid_self: bool,
    starter: str,
    share: int | None = None,
    accounts: Accounts | None = None,
) -> Reach:
    """The people who could decide a gate with these approvers in a run that `starter` starts
    (shared with group id `share`, if any). Empty `approvers` (anyone): not asked here."""
    found = accounts or Accounts()
    people: set[str] = set()
    missing: list[str] = []
    unbounded = False
    for entry in approvers:
        if entry.startswith("group:"):
            # (a group that exists is not enumerated: its members may be more than listed)
            if found.group(entry[6:]) is None:
                missing.append(f"there is no group '{cut(entry[6:])}' on this machine")
            else:
                unbounded = True
        elif found.uid(entry) is None:
            missing.append(f"there is no user '{cut(entry)}' on this machine")
        else:
            people.add(entry)
    if forbid_self and starter in people:
        people.discard(starter)
        missing.append(f"{starter} starts the run and the gate forbids self-approval")
    if share is not None:
        # (root passes any permission, so reaches the socket whatever its group)
        outside = sorted(
            p for p in people if p != starter and found.uid(p) != 0 and not found.in_group(p, share)
        )
        if outside:
            people -= set(outside)
            name = found.group_name(share)
            missing.append(
                f"{_names(outside)} cannot reach the run: not in group {name}, which it is "
                "shared with"
            )
    return Reach(sorted(people), missing, unbounded)


def shortfall(
    gate_id: str,
    approvers: Sequence[str],
    quorum: int,
    forbid_self: bool,
    starter: str,
    share: int | None = None,
    accounts: Accounts | None = None,
) -> str:
    """Why the gate's quorum is out of reach of the people who could decide it here ("" when it
    is not, or when anyone may decide it)."""
    if not approvers:
        return ""
    deciders, missing, unbounded = reach(approvers, forbid_self, starter, share, accounts)
    if len(deciders) >= quorum or unbounded:  # (a group's members: validate warns of none)
        return ""
    n, names = len(deciders), _names(deciders) or "none"
    may = f"only {n} of its approvers may give them ({names})"  # (its groups' members too)
    why = "; ".join(missing) or "its groups hold no more people"
    plural = "s" if quorum != 1 else ""
    return f"gate '{cut(gate_id)}' needs {quorum} approval{plural} but {may}: {why}"


def _names(names: Sequence[str]) -> str:
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _me() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def approver_warnings(
    data: dict[str, Any], accounts: Accounts | None = None, starter: str = ""
) -> Iterator[Flaw]:
    """Warnings for `validate` (which may run on another machine than the run): a gate whose
    quorum the people here could not reach if this user (`starter`) started the run (shared
    with the plan's `share:` group, if any), which `run` would refuse; else each approver that
    names no user or group here, or an empty group; the same of the people who answer an
    agent's tool requests, of the plan's roles and of those its feedback asks."""
    found = accounts or Accounts()
    me = starter or _me()
    share_name = data.get("share")
    share = found.group(share_name) if isinstance(share_name, str) else None
    for gi, gate in dicts(data.get("gates")):
        approvers = gate.get("approvers")
        quorum = gate.get("quorum", 1)
        if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
            continue  # (the model reports it)
        if not isinstance(quorum, int) or isinstance(quorum, bool):
            continue
        listed = [a for a in approvers if a.strip() and a != "group:"]
        grouped = any(a.startswith("group:") for a in listed)
        if not listed or (not grouped and quorum > len(set(listed))):
            continue  # (anyone may decide, or too few listed: a problem of the plan already)
        forbid = gate.get("forbid_self_approval") is True
        why = shortfall(str(gate.get("id")), listed, quorum, forbid, me, share, found)
        if why:
            yield Flaw(
                ("gates", gi, "approvers"),
                True,
                f"{why}; `phasegate run` would refuse it here, started by {me}",
            )
            continue
        yield from _unknown(listed, _positions(approvers), ("gates", gi, "approvers"), found)
    # who answers an agent's tool requests, who operates the run, who decides its amendments:
    # a name that is no one here is warned of alike
    people: list[tuple[tuple[str | int, ...], object]] = [
        (
            ("agents", name, "permissions", "approvers"),
            mapping(mapping(agent).get("permissions")).get("approvers"),
        )
        for name, agent in mapping(data.get("agents")).items()
    ]
    roles = mapping(data.get("roles"))
    people += [(("roles", role), roles.get(role)) for role in ("operators", "changes")]
    # who is asked for feedback: only they may answer, so a name that is no one here is warned
    # of as an approver's is (were all of them no one, nobody could answer, not even the starter)
    people.append((("feedback", "ask"), mapping(data.get("feedback")).get("ask")))
    for base, names in people:
        if isinstance(names, list) and all(isinstance(a, str) for a in names):
            listed = [a for a in names if a.strip() and a != "group:"]
            yield from _unknown(listed, _positions(names), base, found)


def _positions(approvers: list[str]) -> dict[str, int]:
    return {a: i for i, a in reversed(list(enumerate(approvers)))}


def _unknown(
    listed: Iterable[str], at: dict[str, int], base: tuple[str | int, ...], found: Accounts
) -> Iterator[Flaw]:
    for entry in listed:
        path = (*base, at[entry])
        if entry.startswith("group:"):
            gid = found.group(entry[6:])
            if gid is None:
                yield Flaw(path, False, f"there is no group '{cut(entry[6:])}' on this machine")
            elif not found.members(gid):
                yield Flaw(path, False, f"group '{cut(entry[6:])}' has no members")
        elif found.uid(entry) is None:
            yield Flaw(path, False, f"there is no user '{cut(entry)}' on this machine")
