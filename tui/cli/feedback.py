"""`phasegate feedback RUN`: a stakeholder's answers to the plan's feedback questions."""

from __future__ import annotations

from phasegate.engine.client import SQLiteStore, resolve_run
from phasegate.engine.client.feedback import MAX_ANSWER, bad_answer, give, questions
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.snapshot import fold_run
from phasegate.tui.text import quoted

ECHOED = 60  # characters of the comment said back (it is kept whole: `show` has it)


def parse_answers(given: tuple[str, ...]) -> dict[str, str]:
    """`--answer ID=TEXT` options as {id: text}; an empty TEXT is bad usage (exit 2), not an
    empty answer kept."""
    out: dict[str, str] = {}
    for item in given:
        qid, sep, text = item.partition("=")
        if not sep or not qid.strip():
            raise UsageError(f"--answer takes ID=TEXT (a question's id), not {item!r}")
        if not text.strip():
            raise UsageError(
                f"--answer {qid.strip()}= gives no answer: write --answer {qid.strip()}=TEXT "
                "(leave out a question you do not answer)"
            )
        out[qid.strip()] = text
    return out


async def answer(
    db_path: str, ref: str, rating: int | None, comment: str, more: dict[str, str]
) -> str:
    _not_too_long(comment, more)
    store = await SQLiteStore.open(db_path)
    try:
        if more:
            await _known_questions(store, ref, more)
        given = await give(store, ref, rating, comment, more)
    finally:
        await store.close()
    rated = f"rating {given.rating}/5" if given.rating is not None else "no rating"
    said = f", {_echoed(given.comment)}" if given.comment else ""
    return f"feedback from {given.user} kept ({rated}{said}); thank you"


def _echoed(comment: str) -> str:
    """The comment quoted, or the start of a long one with its length (a comment of pages is
    kept whole, not printed back)."""
    if len(comment) <= ECHOED:
        return quoted(comment)
    return f"{quoted(comment[:ECHOED] + '…')}, {len(comment):,} characters"


def _not_too_long(comment: str, more: dict[str, str]) -> None:
    """UsageError (exit 2) for an answer longer than the engine keeps, before anything is sent
    (with `--answer`, the option's id names it; `--comment`, the option)."""
    if len(comment) > MAX_ANSWER:
        raise UsageError(
            f"--comment is {len(comment):,} characters; an answer is at most {MAX_ANSWER:,}: "
            "shorten it"
        )
    for qid, text in more.items():
        why = bad_answer(qid, "text", text)
        if why:
            raise UsageError(why)


async def _known_questions(store: SQLiteStore, ref: str, more: dict[str, str]) -> None:
    """UsageError (exit 2) for an --answer to a question the run does not ask, or a rating
    outside 1-5, before anything is sent (a run whose start is not recorded yet is left to its
    engine)."""
    state = (await fold_run(store, (await resolve_run(store, ref)).id))[0]
    if not state.run_id:
        return
    kinds = {q["id"]: q.get("kind", "text") for q in questions(state)}
    for qid, text in more.items():
        if qid not in kinds:
            raise UsageError(
                f"unknown question '{qid}': run {state.run_id} asks {', '.join(kinds)}"
            )
        why = bad_answer(qid, kinds[qid], text)
        if why:
            raise UsageError(why)
