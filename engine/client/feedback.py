"""Giving stakeholder feedback on a run, from the command line or a dashboard.

While the run's engine is up, the answers are a command on its socket: the engine takes the
sender's uid from the kernel, judges it (engine/run/feedback.py) and records `feedback.given`
or the refusal. After the run has ended there is no engine to ask (it stopped with the run;
keeping it up for answers that may come days later would leave a process per finished run).
Then this process records the answers itself, as `note` does for a note on an ended run: the
identity is this process's own uid (`os.geteuid`, never a claimed name), the same rules judge
it, and the database's permissions decide who can write at all: its owner, the user who
started the run (a shared run's database is readable by its group, writable only by them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping

from phasegate.engine.client import (
    ANSWER_POLL,
    CommandRefused,
    RunRow,
    SQLiteStore,
    ask,
    engine_alive,
    resolve_run,
    run_dir,
    take_over_hint,
)
from phasegate.engine.model import events as ev
from phasegate.engine.model.commands import Feedback
from phasegate.engine.model.errors import StoreError
from phasegate.engine.model.identity import current_identity
from phasegate.engine.model.secrets import Redactor
from phasegate.engine.model.snapshot import fold_run
from phasegate.engine.model.state import RunState
from phasegate.engine.run import feedback as policy

ENGINE_GONE_WAIT = 10.0  # for an ended run's engine to finish its last writes


async def give(
    store: SQLiteStore,
    ref: str,
    rating: int | None,
    comment: str = "",
    answers: Mapping[str, str] | None = None,
) -> ev.FeedbackGiven:
    """Record the caller's answers on run `ref`; CommandRefused says why not (not asked, not
    yet asked, a rating outside 1-5, a database this user cannot write)."""
    row = await resolve_run(store, ref)
    if row.finished_at is None:
        if not engine_alive(row):
            raise CommandRefused(
                f"refused: run {row.id} was interrupted: its engine is not running; "
                f"{take_over_hint(store.path, row.id, row.user)} (then give the feedback)"
            )
        order = Feedback(rating or 0, comment, dict(answers or {}))
        answer = await ask(
            store,
            row.id,
            order,
            lambda e, sent: isinstance(e, ev.FeedbackGiven | ev.CommandDone) and e.command == sent,
        )
        if isinstance(answer, ev.FeedbackGiven):
            return answer
        assert isinstance(answer, ev.CommandDone)
        if "the run has ended" not in answer.message:
            raise CommandRefused(f"refused: {answer.message}")
    return await _after_end(store, row.id, rating, comment, answers)


async def note_after_end(store: SQLiteStore, ref: str, text: str) -> str | None:
    """A note on run `ref` once it has ended: recorded by this process (no engine runs it any
    more), its report and lessons refreshed; what to tell the user. None while the run has not
    ended (its engine takes the note as a command, or refuses it when it is gone)."""
    row = await resolve_run(store, ref)
    if row.finished_at is None:
        return None
    if not text.strip():
        raise CommandRefused("refused: a note needs text")
    who = current_identity()  # (the audit's row: who, from where)
    noted = ev.RunNoted(time.time(), text, who.user, who.uid, who.host, who.tty, who.ssh)
    await _append(store, row.id, lambda _: noted)
    return f"run {row.id}: noted (the run had ended; its report and lessons now include it)"


async def _after_end(
    store: SQLiteStore,
    run_id: str,
    rating: int | None,
    comment: str,
    answers: Mapping[str, str] | None,
) -> ev.FeedbackGiven:
    def answered(state: RunState) -> ev.Event | str:
        return policy.answer(state, current_identity(), time.time(), rating, comment, answers)

    given = await _append(store, run_id, answered)
    assert isinstance(given, ev.FeedbackGiven)
    return given


async def _append(
    store: SQLiteStore, run_id: str, make: Callable[[RunState], ev.Event | str]
) -> ev.Event:
    """The event `make` gives for the ended run's state appended to its events by this process,
    and its reports and search index refreshed; `make` may refuse (a string: why)."""
    deadline = time.monotonic() + ENGINE_GONE_WAIT
    while True:  # (an engine still writing its last events owns the sequence numbers)
        row = await resolve_run(store, run_id)
        if not engine_alive(row) or time.monotonic() > deadline:
            break
        await asyncio.sleep(ANSWER_POLL)
    state, seq = await fold_run(store, run_id)
    event = make(state)
    if isinstance(event, str):
        raise CommandRefused(f"refused: {event}")
    # as the engine redacts every event it writes: the plan's secrets (those this process can
    # read) and every key's shape never reach the database, the reports or the search index
    event = (await _redactor(store, row)).event(event)
    try:
        await store.write_batch(run_id, [(seq + 1, event)])
    except StoreError as exc:
        who = current_identity().user
        raise CommandRefused(
            f"refused: run {run_id} has ended and {who} cannot write its database "
            f"({exc}); after its end, it is written by the user who started it"
        ) from None
    from phasegate.engine.report.knowledge import learn

    with contextlib.suppress(Exception):  # its reports and the search index gain it
        await learn(store, run_id, run_dir(store.path, run_id))
    return event


async def _redactor(store: SQLiteStore, row: RunRow) -> Redactor:
    """What the run's engine redacted with, as far as this process can know it: the declared
    secrets whose source it can read, and every key's shape (never the plan's names)."""
    from phasegate.engine.plan.secrets import readable, readable_in_text
    from phasegate.engine.report.make import plan_of

    plan = await plan_of(store, row.id, row.plan_path)
    if plan is not None:
        return Redactor(readable(plan), keep=plan.names())
    # a kept plan this phasegate no longer takes (or none): its `secrets:` read as written, so
    # that redaction never fails open
    saved = await store.load_plan(row.id)
    base = os.path.dirname(row.plan_path) or "."
    return Redactor(readable_in_text(saved[0], base) if saved else {})


def prompted(state: RunState, user: str) -> bool:
    """Does a dashboard of `user` show the run's feedback questions now? When the plan asks
    them and they were asked (the run ended, or the gate opened), until `user` answered."""
    if not state.feedback_plan or state.feedback_asked is None:
        return False
    if any(g["user"] == user for g in state.feedback_given):
        return False
    return policy.may_give(state, user)


def questions(state: RunState) -> list[dict[str, str]]:
    """The run's feedback questions ({"id", "text", "kind": rating | text})."""
    return policy.questions(state)


MAX_ANSWER = policy.MAX_ANSWER  # characters of one answer


def bad_answer(qid: str, kind: str, value: str) -> str:
    """Why `value` is no answer to question `qid` of `kind` ("" when it is one): a rating is a
    whole number from 1 to 5, an answer at most MAX_ANSWER characters."""
    return policy.bad_answer(qid, kind, value)
