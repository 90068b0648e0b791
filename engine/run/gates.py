"""Quality gates: criteria evaluated into evidence, and the approval policy.

The policy takes the decider's Identity as a value (from the OS user that wrote the command,
never from a name a client claims), so tests inject users for quorum and allow-lists.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.capture import run_capture
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.state import GateState, RiskState
from phasegate.engine.model.statuses import SEVERITIES
from phasegate.engine.plan.template import substitute

if TYPE_CHECKING:  # (the dashboard decides gates without the plan model: start-up)
    from phasegate.engine.plan.deciders import Accounts
    from phasegate.engine.plan.model import Criterion, Gate, TestsCriterion
    from phasegate.engine.plan.work import MetricCriterion

CRITERION_TIMEOUT = 600.0
# the detail of a criterion whose command is under way (what one the run's stop killed keeps)
STOPPED = "under way"
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


_WHY = {
    "waiting": "its phase has not finished yet",
    "passed": "it has passed",
    "rejected": "it was rejected",
    "failed": "its criteria failed",
    "open": "",
}


class Verdict(msgspec.Struct, frozen=True):
    """What the policy says of one decision: accepted, or refused and why."""

    accepted: bool
    why: str = ""


async def evaluate(
    criteria: list[Criterion],
    workdir: str,
    env: dict[str, str],
    values: dict[str, str],
    open_risks: Sequence[RiskState] = (),
    results_of: Mapping[str, dict[str, Any]] | None = None,
    results: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run every criterion; each result is {kind, spec, passed, detail}. `no_risks: LEVEL`
    passes when no risk at LEVEL or above is open in the run; `tests` reads `results` (task ->
    its last attempt's test results, from the fold: `results_of`).
    `results`: the list to fill in, so that a caller whose evaluation is cancelled (the run
    stops) knows what was found so far: the criterion under way is its last, `STOPPED`."""
    results = [] if results is None else results
    for c in criteria:
        if c.run is not None or c.metric is not None:
            kind = "run" if c.run is not None else "metric"
            run = c.run if c.run is not None else str(getattr(c.metric, "run", ""))
            _, command = command_argv(run, values)
            results.append({"kind": kind, "spec": command, "passed": False, "detail": STOPPED})
            if c.run is not None:  # (its entry is what the command said, once it ends)
                results[-1] = await _run(c.run, workdir, env, values)
            elif c.metric is not None:
                results[-1] = await _metric(c.metric, workdir, env, values)
        elif c.file is not None:
            filled = substitute(c.file, values)
            path = os.path.join(workdir, filled)
            size = os.path.getsize(path) if os.path.isfile(path) else -1
            ok = size > 0
            detail = (
                f"{size} byte{'s' if size != 1 else ''}"
                if ok
                else ("empty" if size == 0 else "missing")
            )
            spec = filled if filled == c.file else f"{filled} ({c.file})"
            results.append({"kind": "file", "spec": spec, "passed": ok, "detail": detail})
        elif c.no_risks is not None:
            floor = SEVERITIES.index(c.no_risks)
            bad = [
                r
                for r in open_risks
                if r.severity in SEVERITIES and SEVERITIES.index(r.severity) >= floor
            ]
            detail = (
                f"{len(bad)} open at {c.no_risks} or above: "
                + "; ".join(f"{r.severity} {r.subject}: {r.message}" for r in bad[:3])
                if bad
                else f"no open risk at {c.no_risks} or above"
            )
            results.append(
                {"kind": "no_risks", "spec": c.no_risks, "passed": not bad, "detail": detail}
            )
        elif c.tests is not None:
            results.append(judge_tests(c.tests, (results_of or {}).get(c.tests.of) or {}))
    return results


async def _run(
    run: str, workdir: str, env: dict[str, str], values: dict[str, str]
) -> dict[str, Any]:
    argv, command = command_argv(run, values)
    done = await run_capture(argv, workdir, env, CRITERION_TIMEOUT, keep=20)
    ok = done.code == 0
    if done.code is None:  # (killed by its timeout, or never started: says which)
        detail = _unfinished(done.error)
    else:
        said = f": {done.error}" if done.error else ""  # (its last lines, if it printed)
        detail = "exit 0" if ok else f"exit {done.code}{said}"
    return {"kind": "run", "spec": command, "passed": ok, "detail": detail}


def _unfinished(error: str) -> str:
    """The detail of a criterion's command with no exit status: run_capture's `timed out after
    600s` (it was killed), or why it could not start."""
    if error == f"timed out after {CRITERION_TIMEOUT:g}s":
        return f"was stopped: it ran past the criteria's timeout of {CRITERION_TIMEOUT:g}s"
    return f"did not run: {error}" if error else "did not run"


def stopped(results: list[dict[str, Any]], why: str) -> list[dict[str, Any]]:
    """The evidence of criteria the run's stop (`why`) cut short (evaluate's `results` so far):
    the criterion under way was killed, a failed check that says so (those after it never
    ran)."""
    return [r | {"detail": f"was stopped: {why}"} if r["detail"] == STOPPED else r for r in results]


def judge_tests(spec: TestsCriterion, found: dict[str, Any]) -> dict[str, Any]:
    """A `tests:` criterion against a task's results: `1107 passed, 0 failed, 12 skipped`."""
    wanted = " and ".join(
        x
        for x in (
            f"failed <= {spec.max_failed}" if spec.max_failed is not None else "",
            f"passed >= {spec.min_passed}" if spec.min_passed is not None else "",
        )
        if x
    )
    result: dict[str, Any] = {"kind": "tests", "spec": f"{spec.of} ({wanted or 'any'})"}
    if not found.get("source"):
        why = found.get("error") or "it has no results yet"
        return result | {"passed": False, "detail": f"no test results of {spec.of}: {why}"}
    failed = int(found.get("failed", 0)) + int(found.get("errors", 0))
    passed = int(found.get("passed", 0))
    ok = (spec.max_failed is None or failed <= spec.max_failed) and (
        spec.min_passed is None or passed >= spec.min_passed
    )
    detail = f"{passed} passed, {failed} failed, {found.get('skipped', 0)} skipped"
    names = [f["name"] for f in found.get("failures", [])[:3]]
    if names and not ok:
        more = failed - len(names)
        detail += ": " + ", ".join(names) + (f" and {more} more" if more > 0 else "")
    return result | {"passed": ok, "detail": detail, "counts": {"passed": passed, "failed": failed}}


def _bound(value: object) -> float | None:
    """A metric's `min`/`max` as a number; ValueError naming it when it is none (the plan's
    model refuses such a value: this is for a spec that did not come through it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


async def _metric(
    spec: MetricCriterion, workdir: str, env: dict[str, str], values: dict[str, str]
) -> dict[str, Any]:
    argv, command = command_argv(str(getattr(spec, "run", "") or ""), values)
    result: dict[str, Any] = {"kind": "metric", "spec": command, "passed": False}
    try:
        low, high = _bound(getattr(spec, "min", None)), _bound(getattr(spec, "max", None))
    except ValueError as exc:  # (never run: its bounds cannot be compared)
        result["detail"] = f"its bounds are not numbers: {exc}"
        return result
    done = await run_capture(argv, workdir, env, CRITERION_TIMEOUT, keep=200)
    numbers = [n for line in done.lines for n in _NUMBER.findall(line)]
    if done.code is None:  # (killed by its timeout, or never started)
        result["detail"] = _unfinished(done.error)
        return result
    if done.code != 0 or not numbers:
        result["detail"] = f"exit {done.code}" if done.code != 0 else "printed no number"
        return result
    value = float(numbers[-1])
    ok = (low is None or value >= low) and (high is None or value <= high)
    bounds = " ".join(
        x
        for x in (
            f">= {low:g}" if low is not None else "",
            f"<= {high:g}" if high is not None else "",
        )
        if x
    )
    result.update(passed=ok, value=value, detail=f"{value:g} (wanted {bounds or 'a number'})")
    return result


def artifacts(paths: list[str], workdir: str) -> list[dict[str, Any]]:
    """The phase's declared outputs as evidence: path, size and sha256 of each."""
    found = []
    for rel in paths:
        path = os.path.join(workdir, rel)
        entry: dict[str, Any] = {"kind": "artifact", "spec": rel, "passed": os.path.isfile(path)}
        if entry["passed"]:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            entry["detail"] = f"{os.path.getsize(path)} bytes, sha256 {digest.hexdigest()[:16]}"
            entry["sha256"] = digest.hexdigest()
        else:
            entry["detail"] = "missing"
        found.append(entry)
    return found


def evidence_hash(gate: str, attempt: int, results: list[dict[str, Any]]) -> str:
    blob = json.dumps({"gate": gate, "attempt": attempt, "criteria": results}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _in_group(user: str, group: str) -> bool:
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return False
    if user in g.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == g.gr_gid
    except KeyError:
        return False


def may_decide(approvers: tuple[str, ...] | list[str], user: str) -> bool:
    if not approvers:
        return True
    for entry in approvers:
        if entry.startswith("group:"):
            if _in_group(user, entry[6:]):
                return True
        elif entry == user:
            return True
    return False


def may_answer(
    approvers: tuple[str, ...] | list[str], forbid_self_approval: bool, user: str, starter: str
) -> bool:
    """May `user` decide a gate with these approvers, in a run `starter` started? The rules of
    `judge` about who, without the gate's state: front ends use it to tell the right people."""
    return may_decide(approvers, user) and not (forbid_self_approval and user == starter)


def out_of_reach(
    gates: Sequence[Gate], starter: str, share: int | None = None, accounts: Accounts | None = None
) -> list[str]:
    """Why a run that `starter` starts (shared with group id `share`) could never pass these
    gates: a gate whose quorum the people who could decide it on this machine cannot reach
    (its approvers that exist, less the starter when it forbids self-approval, less those who
    cannot reach a shared run's socket). [] when none is."""
    from phasegate.engine.plan.deciders import Accounts, shortfall  # (the plan model's side)

    found = accounts or Accounts()
    return [
        why
        for g in gates
        if (
            why := shortfall(
                g.id, g.approvers, g.quorum, g.forbid_self_approval, starter, share, found
            )
        )
    ]


def refuse_unreachable(gates: Sequence[Gate], starter: str, share: int | None = None) -> None:
    """UsageError (exit 2) naming each gate a run that `starter` starts could never pass
    (out_of_reach): before anything of the run is made or started, by `run` and the engine."""
    from phasegate.engine.model.errors import UsageError

    unreachable = out_of_reach(gates, starter, share)
    if unreachable:
        fix = "add an approver, lower the quorum or let another user start the run"
        raise UsageError(f"{'; '.join(unreachable)}; {fix}; nothing was run")


def outcome_of(gate: Gate, state: GateState) -> tuple[str, str] | None:
    """What the votes of the gate's open attempt decide (from the fold): (outcome, reason), or
    None while it still waits. One rejection decides; so does a full quorum."""
    if state.rejected:
        return "rejected", state.rejected
    if len(state.approved_by) >= gate.quorum:
        return "passed", f"approved by {', '.join(state.approved_by)}"
    return None


def judge(
    gate: Gate, state: GateState, who: Identity, decision: str, reason: str, starter: str
) -> Verdict:
    """May `who` take this decision on this gate now?"""
    if state.status != "open":
        why = _WHY.get(state.status, f"it is {state.status.value}")
        if state.status == "waiting" and state.attempt:  # (decided once, then sent back)
            why = (
                "a rejection sent the run back and its phase runs again; it opens again when "
                "that phase ends"
            )
        return Verdict(False, f"gate '{gate.id}' is not waiting for a decision: {why}")
    # decided by an earlier decision the engine has not closed the gate for yet (several
    # decisions in one batch): exactly one decision decides
    outcome = outcome_of(gate, state)
    if outcome is not None:
        return Verdict(False, f"gate '{gate.id}' is decided already: {outcome[1]}")
    if decision == "reject" and not reason.strip():
        return Verdict(False, "a rejection needs a reason: --reason TEXT")
    if not may_decide(gate.approvers, who.user):
        return Verdict(
            False,
            f"{who.user} may not decide gate '{gate.id}'; approvers: {', '.join(gate.approvers)}",
        )
    if gate.forbid_self_approval and who.user == starter:
        return Verdict(
            False,
            f"{who.user} started this run and gate '{gate.id}' forbids "
            "self-approval; another approver must decide",
        )
    if decision == "approve" and who.user in state.approved_by:
        need = gate.quorum - len(state.approved_by)
        return Verdict(
            False,
            f"{who.user} has approved already; {need} more approver"
            f"{'s' if need != 1 else ''} needed (quorum {gate.quorum})",
        )
    return Verdict(True)
