"""Typed commands: one definition each (fields, validation, who may send it), the same on both
sides of the inbox; a bad command is refused with a reason, never a traceback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.run.loop import Runner
from phasegate.engine.store import MemoryStore

from .helpers import ScriptedExecutor, command, run_plan, until

WORDS = st.text(max_size=10)
COMMANDS = st.one_of(
    st.builds(cmd.Approve, WORDS, WORDS),
    st.builds(cmd.Reject, WORDS, WORDS),
    st.builds(cmd.Cancel, WORDS),
    st.builds(cmd.Pause, WORDS, WORDS, WORDS),
    st.builds(cmd.Resume, WORDS),
    st.builds(cmd.Priority, WORDS, st.integers(-(10**6), 10**6)),
    st.builds(cmd.Slots, WORDS, st.integers(1, 64)),
    st.builds(cmd.Retry, WORDS),
    st.builds(cmd.Skip, WORDS, WORDS),
    st.builds(cmd.CancelTask, WORDS, WORDS),
    st.builds(cmd.Note, WORDS.filter(str.strip)),
)


@given(COMMANDS)
def test_a_command_reads_back_as_itself_from_what_is_sent(order: cmd.Command) -> None:
    assert cmd.parse(order.kind.value, cmd.args_of(order)) == order


@pytest.mark.parametrize(
    ("kind", "args", "why"),
    [
        ("launch", {}, "unknown command 'launch'; commands: approve, reject"),
        ("priority", {"task": "a"}, "'priority' needs 'priority'"),
        ("priority", {"task": "a", "priority": "high"}, "'priority' must be a whole number"),
        ("priority", {"task": "a", "priority": True}, "'priority' must be a whole number"),
        ("slots", {"agent": "w", "slots": 0}, "slots must be a whole number from 1 to 1,024"),
        ("slots", {"agent": "w", "slots": 10**9}, "slots must be a whole number from 1 to 1,024"),
        (
            "priority",
            {"task": "a", "priority": 10**12},
            "priority must be a whole number from -1,000,000 to 1,000,000",
        ),
        ("note", {"text": "   "}, "a note needs text"),
        ("skip", {}, "'skip' needs 'task'"),
    ],
)
def test_a_bad_command_is_refused_with_what_to_fix(
    kind: str, args: dict[str, object], why: str
) -> None:
    with pytest.raises(cmd.BadCommand, match="^" + why.replace("(", r"\(")) as found:
        cmd.parse(kind, args)
    assert found.value.exit_code == 2


def test_who_may_send_each_command_is_part_of_its_definition() -> None:
    assert {k for k, c in cmd.COMMANDS.items() if c.role is cmd.Role.DECIDE} == {
        cmd.Kind.APPROVE,
        cmd.Kind.REJECT,
    }
    assert set(cmd.COMMANDS) == set(cmd.Kind)


async def test_the_engine_answers_a_command_it_cannot_read_and_goes_on(tmp_path: Path) -> None:
    # an older or foreign client sends a command no phasegate defines, then a good one
    plan = """
    name: p
    agents: {w: {}}
    roles: {operators: [alice]}
    phases:
      - id: one
        tasks: [{id: a, run: "true"}]
    """
    executor = ScriptedExecutor(hold={"a"})
    store = MemoryStore()
    runners: list[Runner] = []

    async def operator() -> None:
        await until(lambda: "a" in executor.started)
        runner = runners[0]
        command(runner, "launch", {"rockets": 3}, "mallory", 1001)
        command(runner, "note", {"text": "fine"}, "alice", 1002)
        command(runner, "note", {"text": "let me in"}, "mallory", 1001)  # not an operator
        command(runner, "reject", {"gate": "g"}, "eve", 1003)
        executor.release("a")

    helper = asyncio.ensure_future(operator())
    state, _ = await run_plan(tmp_path, plan, executor, store, on_runner=runners.append)
    await helper
    events = [e for _, e in await store.read_events("run1")]
    done = [e for e in events if isinstance(e, ev.CommandDone)]
    assert [(d.kind, d.by, d.uid, d.ok) for d in done] == [
        ("launch", "mallory", 1001, False),
        ("note", "alice", 1002, True),
        ("note", "mallory", 1001, False),
    ]
    assert done[0].message.startswith("unknown command 'launch'")
    assert done[2].message.startswith("mallory may observe this run but not operate it")
    assert [n[1:] for n in state.notes] == [("alice", "fine")]
    # a decision that cannot be read is refused as a decision: an audit row, who and why
    (refused,) = [e for e in events if isinstance(e, ev.GateRefused)]
    assert (refused.gate, refused.decision, refused.user, refused.uid) == (
        "g",
        "reject",
        "eve",
        1003,
    )
    assert refused.why == "'reject' needs 'reason'"
    assert state.status.value == "succeeded"


async def test_commands_that_reach_an_ended_run_are_answered() -> None:
    from phasegate.engine.model.fold import project
    from phasegate.engine.model.identity import Identity
    from phasegate.engine.run.inbox import Inbox

    events: list[ev.Event] = []

    class Host:
        state = project(
            [
                ev.RunStarted(1.0, "r", "p", "p.yaml", phases=[], tasks=[], agents=[]),
                ev.CommandDone(1.5, 4, "note", "bob", True, uid=7),
                ev.RunFinished(2.0, "succeeded"),
            ]
        )

        def emit(self, event: ev.Event) -> None:
            events.append(event)

        def now(self) -> float:
            return 3.0

    inbox = Inbox(Host(), None, None, lambda why: None)  # type: ignore[arg-type]
    note = inbox.submit("note", {"text": "late"}, Identity("alice", 1002, "h"))
    vote = inbox.submit("approve", {"gate": "g"}, Identity("bob", 7, "h"))
    done, refused = events
    # numbered after the last one the run answered
    assert (note, vote) == ({"id": 5}, {"id": 6})
    assert isinstance(done, ev.CommandDone) and (done.command, done.ok) == (5, False)
    assert done.message == "the run has ended (succeeded); nothing was done"
    assert isinstance(refused, ev.GateRefused) and (refused.command, refused.uid) == (6, 7)


async def test_a_command_for_a_run_no_engine_holds_fails_with_how_to_go_on(
    tmp_path: Path,
) -> None:
    from phasegate.engine.client import NoEngine, SQLiteStore, ask
    from phasegate.engine.store.base import RunRow

    store = await SQLiteStore.open(str(tmp_path / "runs.db"))
    try:
        await store.create_run(RunRow("r", "p", "p.yaml", "running", 1.0))
        # (its hint names the database: this is not the default one)
        resume = f"`phasegate resume r --db {tmp_path}/runs.db`"
        with pytest.raises(NoEngine, match=rf"no engine holds run r .*{re.escape(resume)}"):
            await ask(store, "r", cmd.Note("hello"), lambda e, sent: False, timeout=10)
    finally:
        await store.close()
