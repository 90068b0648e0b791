"""Semantic checks of what oversees a plan's run: its gates (the phases they name, quorum,
criteria and their `tests:`), where stakeholder feedback is asked, research queries and monitors.

Called by plan.check's `semantic_problems`, on the same raw data and with the same tolerance of
malformed neighbours; each problem is a `Flaw`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw, Names
from phasegate.engine.plan.flaws import as_str as _str
from phasegate.engine.plan.flaws import dicts as _dicts
from phasegate.engine.plan.flaws import unknown_names as _unknown_names
from phasegate.engine.plan.messages import cut as _cut
from phasegate.engine.plan.model import CRITERION_KINDS, criterion_problem


def check_gates(
    data: dict[str, Any], phase_ids: dict[str, int], known: Names, budget: list[int]
) -> Iterator[Flaw]:
    phases = Names(phase_ids, budget)
    gate_ids: dict[str, int] = {}
    tested = _tested(data)
    for gi, gate in _dicts(data.get("gates")):
        gid = _str(gate.get("id"))
        if gid is not None:
            if gid in gate_ids:
                yield Flaw(
                    ("gates", gi, "id"),
                    False,
                    (
                        f"duplicate gate id '{_cut(gid)}' (first at gates[{gate_ids[gid]}]); "
                        "gate ids must be unique: rename one"
                    ),
                )
            else:
                gate_ids[gid] = gi
        after = _str(gate.get("after"))
        if after is not None and after not in phase_ids:
            yield Flaw(
                ("gates", gi, "after"),
                False,
                (
                    f"gate after '{_cut(after)}', which is not a phase{phases.hint(after)}; "
                    f"phases: {phases.listing()}"
                ),
            )
        on_reject = gate.get("on_reject")
        rewind = _str(on_reject.get("rewind_to")) if isinstance(on_reject, dict) else None
        if rewind is not None and rewind not in phase_ids:
            yield Flaw(
                ("gates", gi, "on_reject", "rewind_to"),
                False,
                (
                    f"rewind_to '{_cut(rewind)}' is not a phase{phases.hint(rewind)}; "
                    f"phases: {phases.listing()}"
                ),
            )
        elif rewind is not None and after in phase_ids and phase_ids[rewind] > phase_ids[after]:
            yield Flaw(
                ("gates", gi, "on_reject", "rewind_to"),
                False,
                (
                    f"rewind_to '{_cut(rewind)}' comes after the gate's phase '{_cut(after)}'; "
                    f"rewind to '{_cut(after)}' or an earlier phase"
                ),
            )
        yield from _check_approvers(gate, gi)
        for ci, crit in _dicts(gate.get("criteria")):
            here: tuple[str | int, ...] = ("gates", gi, "criteria", ci)
            problem = criterion_problem([k for k in CRITERION_KINDS if crit.get(k) is not None])
            if problem:
                yield Flaw(here, False, problem)
            if isinstance(crit.get("run"), str):
                yield from _unknown_names(crit["run"], known, (*here, "run"))
            metric = crit.get("metric")
            if isinstance(metric, dict) and isinstance(metric.get("run"), str):
                yield from _unknown_names(metric["run"], known, (*here, "metric", "run"))
            if isinstance(crit.get("file"), str):
                yield from _unknown_names(crit["file"], known, (*here, "file"))
            yield from _check_tests(crit.get("tests"), tested, here)
    feedback = data.get("feedback")
    if isinstance(feedback, dict):
        asks = _dicts(feedback.get("questions"))
        yield from _duplicates("questions", asks, ("feedback",))
    at = _str(feedback.get("at")) if isinstance(feedback, dict) else None
    if at is not None and at != "end" and at not in gate_ids:
        gates = Names(gate_ids, budget)
        yield Flaw(
            ("feedback", "at"),
            False,
            f"feedback at '{_cut(at)}', which is neither `end` nor a gate{gates.hint(at)}; "
            f"gates: {gates.listing()}",
        )


def _check_approvers(gate: dict[str, Any], gi: int) -> Iterator[Flaw]:
    """A gate's approvers: no blank entry, no empty `group:`, no one listed twice; and a quorum
    that users alone can reach. A `group:NAME` entry stands for however many people the group
    holds, so only a list of users (no group) is checked against the quorum here (the starter,
    when the gate forbids self-approval, is checked as the run starts)."""
    approvers, quorum = gate.get("approvers"), gate.get("quorum")
    if not isinstance(approvers, list):
        return
    seen: dict[str, int] = {}
    grouped = False
    for ai, entry in enumerate(approvers):
        if not isinstance(entry, str):
            continue  # the model reports it
        path = ("gates", gi, "approvers", ai)
        if entry.startswith("group:"):
            grouped = True
            if not entry[6:].strip():
                yield Flaw(path, False, "an empty group name; write group:NAME (an OS group)")
                continue
        elif not entry.strip():
            yield Flaw(path, False, "an empty approver; name an OS user, or group:NAME")
            continue
        if entry in seen:
            yield Flaw(
                path,
                False,
                f"approver '{_cut(entry)}' is listed twice (first at approvers[{seen[entry]}]); "
                "each approver counts once towards the quorum: remove one",
            )
        else:
            seen[entry] = ai
    if (
        not grouped
        and seen
        and isinstance(quorum, int)
        and not isinstance(quorum, bool)
        and quorum > len(seen)
    ):
        yield Flaw(
            ("gates", gi, "quorum"),
            False,
            (
                f"quorum {quorum} but only {len(seen)} approver"
                f"{'s' if len(seen) != 1 else ''} listed; "
                "lower the quorum or add approvers (or a group:NAME)"
            ),
        )


def _tested(data: dict[str, Any]) -> dict[str, bool]:
    """Every task id -> whether it declares `results:`."""
    return {
        str(t.get("id")): isinstance(t.get("results"), dict)
        for _, phase in _dicts(data.get("phases"))
        for _, t in _dicts(phase.get("tasks"))
    }


def _check_tests(spec: Any, tested: dict[str, bool], path: tuple[str | int, ...]) -> Iterator[Flaw]:
    """A `tests:` criterion names a task that declares its results."""
    of = _str(spec.get("of")) if isinstance(spec, dict) else None
    if of is None:
        return
    if of not in tested:
        yield Flaw((*path, "tests", "of"), False, f"tests of '{_cut(of)}', which is not a task")
    elif not tested[of]:
        yield Flaw(
            (*path, "tests", "of"),
            False,
            f"tests of '{_cut(of)}', which declares no `results:`; give it "
            "results: {junit: PATH} (or {summary: PATTERN}) so that its counts are read",
        )


def check_research(
    queries: list[tuple[int, dict[str, Any]]], known: Names, budget: list[int]
) -> Iterator[Flaw]:
    with_query = Names(set(known.names) | {"query"}, budget)
    for i, q in queries:
        if isinstance(q.get("query"), str):
            yield from _unknown_names(q["query"], known, ("research", i, "query"))
        provider = q.get("provider")
        if isinstance(provider, dict) and isinstance(provider.get("run"), str):
            command = provider["run"]
            yield from _unknown_names(command, with_query, ("research", i, "provider", "run"))
    yield from _duplicates("research", queries)


def check_monitors(
    monitors: list[tuple[int, dict[str, Any]]], known: Names, base: tuple[str | int, ...] = ()
) -> Iterator[Flaw]:
    """The plan's monitors, or a phase's (`base`: that phase's key path)."""
    for i, m in monitors:
        if isinstance(m.get("run"), str):
            yield from _unknown_names(m["run"], known, (*base, "monitors", i, "run"))
    yield from _duplicates("monitors", monitors, base)


def _duplicates(
    key: str, entries: list[tuple[int, dict[str, Any]]], base: tuple[str | int, ...] = ()
) -> Iterator[Flaw]:
    """Entries of a list (research, monitors, feedback questions) whose `id` repeats an earlier
    one (a question's answers are kept by its id: a second one would overwrite the first)."""
    seen: dict[str, int] = {}
    what = {"research": "research", "questions": "question"}.get(key, "monitor")
    for i, entry in entries:
        eid = _str(entry.get("id"))
        if eid is None:
            continue
        if eid in seen:
            yield Flaw(
                (*base, key, i, "id"),
                False,
                f"duplicate {what} id '{_cut(eid)}' (first at {key}[{seen[eid]}]); rename one",
            )
        else:
            seen[eid] = i
