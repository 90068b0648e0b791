"""Typed commands: one definition each (fields, validation, who may send it), the same on both
sides of the inbox; a bad command is refused with a reason, never a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.engine.model import commands as cmd
from phasegate.engine.model import events as ev
from phasegate.engine.store import MemoryStore

from .helpers import ScriptedExecutor, run_plan, until

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
        ("slots", {"agent": "w", "slots": 0}, "slots must be a whole number of 1 or more"),
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
    # an older or foreign client writes a command no phasegate defines, then a good one
    plan = """
    name: p
    agents: {w: {}}
    phases:
      - id: one
        tasks: [{id: a, run: "true"}]
    """
    executor = ScriptedExecutor(hold={"a"})
    store = MemoryStore()

    async def answers() -> list[ev.CommandDone]:
        return [e for _, e in await store.read_events("run1") if isinstance(e, ev.CommandDone)]

    async def refusals() -> list[ev.GateRefused]:
        return [e for _, e in await store.read_events("run1") if isinstance(e, ev.GateRefused)]

    async def operator() -> None:
        await until(lambda: "a" in executor.started)
        await store.put_command("run1", "launch", {"rockets": 3}, "mallory", 1.0)
        await store.put_command("run1", "note", {"text": "fine"}, "alice", 1.0)
        await store.put_command("run1", "reject", {"gate": "g", "uid": "x"}, "eve", 1.0)
        while len(await answers()) < 2 or not await refusals():
            await asyncio.sleep(0.01)
        executor.release("a")

    helper = asyncio.ensure_future(operator())
    state, _ = await run_plan(tmp_path, plan, executor, store)
    await helper
    done = await answers()
    assert [(d.kind, d.by, d.ok) for d in done] == [
        ("launch", "mallory", False),
        ("note", "alice", True),
    ]
    assert done[0].message.startswith("unknown command 'launch'")
    assert state.notes[0][1:] == ("alice", "fine")
    # a decision that cannot be read is refused as a decision: an audit row, who and why
    (refused,) = await refusals()
    assert (refused.gate, refused.decision, refused.user, refused.uid) == ("g", "reject", "eve", -1)
    assert refused.why == "'reject' needs 'reason'"
    assert state.status.value == "succeeded"


async def test_commands_left_when_a_run_ends_are_answered() -> None:
    from phasegate.engine.model.state import project
    from phasegate.engine.run.inbox import Inbox

    store = MemoryStore()
    events: list[ev.Event] = []

    class Host:
        state = project(
            [
                ev.RunStarted(1.0, "r", "p", "p.yaml", phases=[], tasks=[], agents=[]),
                ev.RunFinished(2.0, "succeeded"),
            ]
        )

        def emit(self, event: ev.Event) -> None:
            events.append(event)

        def now(self) -> float:
            return 3.0

    from phasegate.engine.store.base import RunRow

    await store.create_run(RunRow("r", "p", "p.yaml", "succeeded", 1.0))
    note = await store.put_command("r", "note", {"text": "late"}, "alice", 2.5)
    vote = await store.put_command("r", "approve", {"gate": "g", "uid": 7}, "bob", 2.5)
    inbox = Inbox(Host(), store, None, None, lambda why: None)  # type: ignore[arg-type]
    await inbox.refuse_rest()
    done, refused = events
    assert isinstance(done, ev.CommandDone) and (done.command, done.ok) == (note, False)
    assert done.message == "the run has ended (succeeded); nothing was done"
    assert isinstance(refused, ev.GateRefused) and (refused.command, refused.uid) == (vote, 7)


async def test_a_client_is_told_when_the_run_ends_without_taking_its_command() -> None:
    from phasegate.engine.client import NoAnswer, ask
    from phasegate.engine.store.base import RunRow

    store = MemoryStore()
    await store.create_run(RunRow("r", "p", "p.yaml", "running", 1.0))
    await store.write_batch("r", [(1, ev.RunFinished(2.0, "succeeded"))])
    with pytest.raises(NoAnswer, match="ended before its engine took the command"):
        await ask(store, "r", cmd.Note("hello"), lambda e, sent: False, timeout=10)
