"""`phasegate feedback RUN`: a stakeholder's answers to the plan's feedback questions."""

from __future__ import annotations

from phasegate.engine.client import SQLiteStore, resolve_run
from phasegate.engine.client.feedback import give, questions
from phasegate.engine.model.errors import UsageError
from phasegate.engine.model.snapshot import fold_run
from phasegate.tui.text import quoted


def parse_answers(given: tuple[str, ...]) -> dict[str, str]:
    """`--answer ID=TEXT` options as {id: text}."""
    out: dict[str, str] = {}
    for item in given:
        qid, sep, text = item.partition("=")
        if not sep or not qid.strip():
            raise UsageError(f"--answer takes ID=TEXT (a question's id), not {item!r}")
        out[qid.strip()] = text
    return out


async def answer(
    db_path: str, ref: str, rating: int | None, comment: str, more: dict[str, str]
) -> str:
    store = await SQLiteStore.open(db_path)
    try:
        if more:
            await _known_questions(store, ref, more)
        given = await give(store, ref, rating, comment, more)
    finally:
        await store.close()
    rated = f"rating {given.rating}/5" if given.rating is not None else "no rating"
    said = f", {quoted(given.comment)}" if given.comment else ""
    return f"feedback from {given.user} kept ({rated}{said}); thank you"


async def _known_questions(store: SQLiteStore, ref: str, more: dict[str, str]) -> None:
    """UsageError (exit 2) for an --answer to a question the run does not ask, before anything
    is sent (a run whose start is not recorded yet is left to its engine)."""
    state = (await fold_run(store, (await resolve_run(store, ref)).id))[0]
    if not state.run_id:
        return
    ids = [q["id"] for q in questions(state)]
    for qid in more:
        if qid not in ids:
            raise UsageError(f"unknown question '{qid}': run {state.run_id} asks {', '.join(ids)}")
