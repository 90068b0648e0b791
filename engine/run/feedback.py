"""Stakeholder feedback at hand-off: who is asked, when, and whether an answer is taken.

The plan's `feedback:` section names who is asked (`ask`: users or group:NAME), when (`at`:
`end`, when the run ends, or a gate's id, when it opens) and the questions (a 1-5 rating and a
comment by default). Those asked may answer once the questions were asked (`feedback.asked`).
Without a section nobody is prompted, and the run's starter and operators may give feedback at
any time. A person may answer again: the latest answer of each counts (engine/report).

The engine judges answers sent to its socket with these (the sender's uid from the kernel);
after the run has ended there is no engine, and the CLI records an answer itself with the
writing process's own uid, judged by the same rules here (engine/client: `give_feedback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phasegate.engine.model import events as ev
from phasegate.engine.model.identity import Identity
from phasegate.engine.model.state import RunState
from phasegate.engine.run.gates import may_decide
from phasegate.engine.run.roles import may_operate

MAX_ANSWER = 10_000  # characters of one answer: kept in the run's events, reports and index
RATINGS = ("1", "2", "3", "4", "5")

DEFAULT_QUESTIONS: list[dict[str, str]] = [
    {"id": "rating", "text": "How well did the result meet your needs? (1-5)", "kind": "rating"},
    {"id": "comment", "text": "Anything the team should know?", "kind": "text"},
]


def questions(state: RunState) -> list[dict[str, str]]:
    """The questions the run asks (the plan's, or a 1-5 rating and a comment)."""
    return list(state.feedback_plan.get("questions") or DEFAULT_QUESTIONS)


def asked(state: RunState, user: str) -> bool:
    """Is `user` among those the plan's feedback section asks?"""
    ask = state.feedback_plan.get("ask") or []
    if ask:
        return may_decide(list(ask), user)
    return may_operate(state, user)  # (a section without `ask`: the starter and operators)


def refusal(state: RunState, user: str) -> str:
    """Why `user` may not give feedback on the run now ("" when they may)."""
    plan = state.feedback_plan
    if not plan:
        if may_operate(state, user):
            return ""
        allowed = ", ".join(dict.fromkeys([state.user, *state.operators]))
        return (
            f"{user} is not asked for feedback on this run; its plan has no `feedback:` "
            f"section, so its starter and operators may give it: {allowed}"
        )
    if not asked(state, user):
        who = ", ".join(plan.get("ask") or [state.user, *state.operators])
        return f"{user} is not asked for feedback on this run; asked: {who} (feedback.ask)"
    if state.feedback_asked is None:
        at = plan.get("at", "end")
        when = "when the run ends" if at == "end" else f"when gate '{at}' opens"
        return f"feedback is asked {when}, not yet (the plan's feedback.at)"
    return ""


def bad_answer(qid: str, kind: str, value: str) -> str:
    """Why `value` is no answer to question `qid` of `kind` ("" when it is one): a rating is a
    whole number from 1 to 5; any answer is at most MAX_ANSWER characters."""
    if kind == "rating" and value.strip() not in RATINGS:
        shown = value if len(value) <= 20 else value[:20] + "…"
        return f"'{qid}' is a rating: a whole number from 1 to 5, not {shown!r}"
    if len(value) > MAX_ANSWER:
        return (
            f"the answer to '{qid}' is {len(value):,} characters; an answer is at most "
            f"{MAX_ANSWER:,}: shorten it"
        )
    return ""


def may_give(state: RunState, user: str) -> bool:
    return not refusal(state, user)


def should_ask(state: RunState, gate: str = "") -> bool:
    """Are the plan's questions to be asked now: at the run's end (`gate` empty) or as the
    gate `gate` opens, when that is the section's `at`, and not asked yet?"""
    plan = state.feedback_plan
    return bool(plan) and state.feedback_asked is None and plan.get("at", "end") == (gate or "end")


def asked_event(state: RunState, ts: float) -> ev.FeedbackAsked:
    plan = state.feedback_plan
    return ev.FeedbackAsked(ts, str(plan.get("at", "end")), list(plan.get("ask") or []))


def answer(
    state: RunState,
    who: Identity,
    ts: float,
    rating: int | None,
    comment: str,
    more: Mapping[str, str] | None = None,
    command: int = 0,
) -> ev.FeedbackGiven | str:
    """The event recording `who`'s answers, or why they are refused: not asked (see
    `refusal`), a rating outside 1-5, an answer longer than MAX_ANSWER, an unknown question,
    or no answer at all. A blank answer is no answer (not kept)."""
    why = refusal(state, who.user)
    if why:
        return why
    if rating is not None and not 1 <= rating <= 5:
        return f"a rating is a whole number from 1 to 5, not {rating}"
    asks = questions(state)
    kinds = {q["id"]: q.get("kind", "text") for q in asks}
    answers: dict[str, str] = {}
    first: dict[str, str] = {}  # kind -> the id of its first question
    for q in asks:
        first.setdefault(q.get("kind", "text"), q["id"])
    if rating is not None:
        if not first.get("rating"):
            return "this run's questions have no rating; answer them with --answer ID=TEXT"
        answers[first["rating"]] = str(rating)
    if comment.strip():
        if not first.get("text"):
            return "this run's questions have no text question; answer them with --answer ID=N"
        why = bad_answer(first["text"], "text", comment)
        if why:
            return why
        answers[first["text"]] = comment
    for qid, value in (more or {}).items():
        if qid not in kinds:
            return f"unknown question '{qid}'; questions: {', '.join(kinds)}"
        if not value.strip():
            continue  # (no answer: an empty entry is not kept)
        why = bad_answer(qid, kinds[qid], value)
        if why:
            return why
        answers[qid] = value.strip() if kinds[qid] == "rating" else value
    if not answers:
        return "no answer given: a rating (1-5), a comment, or both"
    rated = answers.get(first.get("rating", ""), "")
    return ev.FeedbackGiven(
        ts,
        who.user,
        who.uid,
        rating=int(rated) if rated else None,
        comment=answers.get(first.get("text", ""), ""),
        answers=answers,
        host=who.host,
        tty=who.tty,
        ssh=who.ssh,
        command=command,
    )


def payload(args: Mapping[str, Any]) -> tuple[int | None, str, dict[str, str]]:
    """A feedback command's fields: (rating, comment, the other answers by question id)."""
    rating = args.get("rating")
    more = args.get("answers") or {}
    return (
        int(rating) if rating not in (None, "", 0) else None,
        str(args.get("comment") or ""),
        {str(k): str(v) for k, v in dict(more).items()},
    )
