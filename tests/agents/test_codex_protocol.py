"""The Codex talk (engine/agents/codex.py) on lines recorded from the real `codex app-server`
(0.169.0) against tests/agents/fake_openai.py; no binary runs here. Shapes, trimmed (``...``:
more keys, not needed):

we send ``{"id": 1, "method": "initialize", "params": {"clientInfo": {...}}}``; it answers
``{"id": 1, "result": {"userAgent": ..., "codexHome": ...}}``; we send ``{"method":
"initialized"}`` and ``{"id": 2, "method": "thread/start", "params": {"cwd": ..., "approvalPolicy":
"untrusted", "sandbox": "workspace-write"}}`` (or ``thread/resume`` with ``threadId``); it answers
``{"id": 2, "result": {"thread": {"id": "01a2...", ...}, "model": "gpt-5.5", ...}}``; we send
``{"id": 3, "method": "turn/start", "params": {"threadId": ..., "input": [{"type": "text",
"text": ...}]}}``. Then notifications (``item/started``, ``item/completed``,
``thread/tokenUsage/updated`` with the thread's running ``total`` and the ``last`` request's
count, ``turn/completed``) and requests to us (``item/commandExecution/requestApproval`` with the
command as Codex runs it: ``/bin/bash -lc 'SCRIPT'``; ``item/fileChange/requestApproval``,
whose paths are only in the item started before it), answered ``{"id": N, "result":
{"decision": "accept" | "decline"}}``. The first JSON-RPC id Codex gives a request is 0.
"""

from __future__ import annotations

import json
from typing import Any

from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.codex import CodexAdapter, CodexTalk
from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.agents.talk import Said
from phasegate.engine.model import events as ev
from phasegate.engine.plan.model import Agent, Permissions, Price, Task

THREAD = "01a24c7a-272e-7f00-ac27-4fdb52337ce4"
TURN = "01a24c7a-2741-7ac3-b484-594511340553"
CWD = "/work/task"


def launch(session: str = "", feedback: str = "") -> Launch:
    env = {"PHASEGATE_FEEDBACK": feedback} if feedback else {}
    return Launch(Task(id="w", agent="coder", prompt="make the files"), 1, env, CWD, session)


def talk(
    rules: Permissions | None = None, price: Price | None = None, session: str = ""
) -> CodexTalk:
    return CodexTalk(launch(session), "make the files", rules, price)


def line(message: dict[str, Any]) -> str:
    return json.dumps(message)


def note(method: str, **params: Any) -> str:
    return line({"method": method, "params": params})


def sent(said: Said) -> list[dict[str, Any]]:
    return [json.loads(w) for w in said.write]


def started(t: CodexTalk) -> None:
    """Through the handshake to the turn's start."""
    t.opening()
    t.read("out", line({"id": 1, "result": {"userAgent": "x/0.169.0"}}))
    t.read("out", line({"id": 2, "result": {"thread": {"id": THREAD}, "model": "gpt-5.5"}}))
    t.read("out", line({"id": 3, "result": {"turn": {"id": TURN, "status": "inProgress"}}}))


def usage(total: tuple[int, int, int], last: tuple[int, int, int], turn: str = TURN) -> str:
    def counts(c: tuple[int, int, int]) -> dict[str, int]:
        return {"inputTokens": c[0], "outputTokens": c[1], "cachedInputTokens": c[2]}

    return note(
        "thread/tokenUsage/updated",
        threadId=THREAD,
        turnId=turn,
        tokenUsage={"total": counts(total), "last": counts(last), "modelContextWindow": 258400},
    )


def completed(status: str = "completed", error: dict[str, Any] | None = None) -> str:
    turn = {"id": TURN, "items": [], "status": status, "error": error}
    return note("turn/completed", threadId=THREAD, turn=turn)


def command_asked(rid: int, command: str) -> str:
    wrapped = f"/bin/bash -lc '{command}'"
    params = {"threadId": THREAD, "turnId": TURN, "itemId": "call_1", "command": wrapped}
    params |= {"cwd": CWD, "commandActions": [{"type": "unknown", "command": command}]}
    return line({"method": "item/commandExecution/requestApproval", "id": rid, "params": params})


def test_the_handshake_starts_a_thread_then_the_turn_with_the_prompt() -> None:
    t = talk()
    (first,) = [json.loads(x) for x in t.opening()]
    assert (first["id"], first["method"]) == (1, "initialize")
    assert first["params"]["clientInfo"]["name"] == "phasegate"
    said = t.read("out", line({"id": 1, "result": {"userAgent": "x/0.169.0"}}))
    initialized, thread = sent(said)
    assert initialized == {"method": "initialized"}
    assert (thread["id"], thread["method"]) == (2, "thread/start")
    assert thread["params"] == {
        "cwd": CWD,
        "approvalPolicy": "untrusted",  # (what makes Codex ask before every command)
        "sandbox": "workspace-write",
    }
    said = t.read("out", line({"id": 2, "result": {"thread": {"id": THREAD}, "model": "gpt-5.5"}}))
    assert t.session == THREAD
    assert [e.session_id for e in said.events if isinstance(e, ev.TaskUsage)] == [THREAD]
    (turn,) = sent(said)
    assert (turn["id"], turn["method"]) == (3, "turn/start")
    assert turn["params"] == {
        "threadId": THREAD,
        "input": [{"type": "text", "text": "make the files"}],
    }


def test_a_retry_resumes_the_earlier_attempts_thread_with_its_feedback() -> None:
    agent = Agent(kind="codex", model="gpt-5.5")
    adapter = adapter_for("coder", agent, {})
    assert isinstance(adapter, CodexAdapter)
    again = launch(session=THREAD, feedback="smaller steps")
    t = adapter.conversation(again)
    t.opening()
    said = t.read("out", line({"id": 1, "result": {}}))
    resume = sent(said)[1]
    assert resume["method"] == "thread/resume"
    assert resume["params"]["threadId"] == THREAD and resume["params"]["model"] == "gpt-5.5"
    said = t.read("out", line({"id": 2, "result": {"thread": {"id": THREAD}}}))
    prompt = sent(said)[0]["params"]["input"][0]["text"]
    assert prompt.startswith("The work was sent back by its reviewer: smaller steps")
    spec, command = adapter.spec(again)
    assert spec.argv == ["codex", "app-server"] and spec.stdin
    assert command.startswith("codex (codex): The work was sent back")


def test_an_approval_no_rule_names_is_asked_of_a_person_and_answered() -> None:
    t = talk(Permissions(allow=["Bash(echo:*)"]))
    started(t)
    said = t.read("out", command_asked(0, "touch marker.txt"))
    assert not said.write
    (ask,) = said.asks
    assert (ask.request, ask.tool, ask.detail) == (0, "Bash", "touch marker.txt")
    assert ask.tool_input == {"command": "touch marker.txt"}
    assert said.show == ["? Bash: touch marker.txt (waits for a person)"]
    assert json.loads(t.answer(ask, True, "")) == {"id": 0, "result": {"decision": "accept"}}
    said = t.read("out", command_asked(1, "touch other.txt"))
    assert json.loads(t.answer(said.asks[0], False, "no")) == {
        "id": 1,
        "result": {"decision": "decline"},
    }


def test_the_plans_rules_answer_at_once() -> None:
    t = talk(Permissions(allow=["Bash(echo:*)"], deny=["Bash(rm:*)"]))
    started(t)
    said = t.read("out", command_asked(0, "echo hi | echo ok"))
    assert not said.asks
    assert sent(said) == [{"id": 0, "result": {"decision": "accept"}}]
    assert said.show == ["✓ Bash: echo hi | echo ok (the plan's rule Bash(echo:*) allows it)"]
    # (a redirection into a file writes it: no rule names that, a person is asked)
    assert t.read("out", command_asked(2, "echo hi > ok.txt")).asks
    said = t.read("out", command_asked(1, "rm -rf important"))
    assert sent(said) == [{"id": 1, "result": {"decision": "decline"}}]
    assert said.show == ["✗ Bash: rm -rf important (the plan's rule Bash(rm:*) denies it)"]


def test_a_file_change_is_asked_with_the_paths_of_its_item() -> None:
    t = talk(Permissions(deny=["fileChange"]))  # (a rule may name Codex's own kind)
    started(t)
    change = {"type": "fileChange", "id": "call_2", "status": "inProgress"}
    change["changes"] = [{"path": f"{CWD}/src/a.py", "kind": {"type": "add"}, "diff": "x\n"}]
    said = t.read("out", note("item/started", item=change, threadId=THREAD, turnId=TURN))
    assert said.show == ["→ Edit: src/a.py", "    x"]  # (its diff follows it)
    params = {"threadId": THREAD, "turnId": TURN, "itemId": "call_2", "reason": None}
    said = t.read(
        "out", line({"method": "item/fileChange/requestApproval", "id": 5, "params": params})
    )
    assert sent(said) == [{"id": 5, "result": {"decision": "decline"}}]
    assert said.show == ["✗ Edit: src/a.py (the plan's rule fileChange denies it)"]


def test_the_first_protocols_approval_carries_the_reason_of_a_denial() -> None:
    t = talk()
    started(t)
    params = {"conversationId": THREAD, "callId": "c1", "cwd": CWD, "parsedCmd": []}
    params["command"] = ["bash", "-lc", "make test"]
    said = t.read("out", line({"method": "execCommandApproval", "id": 7, "params": params}))
    (ask,) = said.asks
    assert ask.detail == "make test"
    assert json.loads(t.answer(ask, False, "not now")) == {
        "id": 7,
        "result": {"decision": {"denied": {"rejection": "not now"}}},
    }


def test_a_turns_tokens_are_counted_once_from_codexs_running_totals() -> None:
    t = talk(session=THREAD)
    t.opening()
    t.read("out", line({"id": 1, "result": {}}))
    t.read("out", line({"id": 2, "result": {"thread": {"id": THREAD}}}))
    # a resumed thread first repeats the last count of its earlier turn: not this turn's
    assert not t.read("out", usage((100, 20, 0), (100, 20, 0), turn="earlier")).events
    t.read("out", line({"id": 3, "result": {"turn": {"id": TURN}}}))
    # each new count is told at once (budgets are checked while the turn runs)
    told = []
    for total, last in [((1100, 70, 10), (1000, 50, 10)), ((2100, 120, 20), (1000, 50, 10))]:
        (partial,) = t.read("out", usage(total, last)).events
        assert isinstance(partial, ev.TaskUsage) and partial.partial
        told.append((partial.input_tokens, partial.output_tokens, partial.cached_tokens))
    assert told == [(1000, 50, 10), (1000, 50, 10)]
    assert not t.read("out", usage((2100, 120, 20), (1000, 50, 10))).events  # (the same again)
    said = t.read("out", completed())
    (spent,) = said.events
    assert isinstance(spent, ev.TaskUsage) and not spent.partial
    assert (spent.input_tokens, spent.output_tokens, spent.cached_tokens) == (0, 0, 0)  # (told)
    assert (spent.turns, spent.session_id, spent.cost_usd, spent.cost_source) == (
        2,
        THREAD,
        0.0,
        "",
    )
    assert said.close and not said.failure
    assert said.show == ["· completed: 2 requests, 2000 in / 100 out tokens"]
    assert not t.read("out", completed()).events  # (the turn's end, said twice, counts once)


def test_a_price_prices_the_tokens() -> None:
    t = talk(price=Price(input=2.0, output=10.0, cached=0.5))
    started(t)
    (partial,) = t.read("out", usage((10_000, 1_000, 4_000), (10_000, 1_000, 4_000))).events
    (spent,) = t.read("out", completed()).events
    assert isinstance(spent, ev.TaskUsage) and isinstance(partial, ev.TaskUsage)
    assert spent.cost_source == partial.cost_source == "priced"
    cost = partial.cost_usd + spent.cost_usd  # (priced as the tokens come)
    assert abs(cost - (6_000 * 2.0 + 4_000 * 0.5 + 1_000 * 10.0) / 1e6) < 1e-12


def test_a_failed_turn_fails_the_attempt_with_codexs_message() -> None:
    t = talk()
    started(t)
    error = {"message": "We're currently experiencing high demand", "codexErrorInfo": "x"}
    said = t.read("out", note("error", error=error, willRetry=True, threadId=THREAD, turnId=TURN))
    assert not said.failure and "(Codex retries)" in said.show[0]
    said = t.read("out", note("error", error=error, willRetry=False, threadId=THREAD, turnId=TURN))
    assert said.failure == "codex: We're currently experiencing high demand"
    said = t.read("out", completed("failed", error))
    assert said.close and said.failure == "codex: We're currently experiencing high demand"


def test_a_refused_request_fails_the_attempt() -> None:
    t = talk(session="gone")
    t.opening()
    t.read("out", line({"id": 1, "result": {}}))
    said = t.read("out", line({"id": 2, "error": {"code": -32600, "message": "no rollout found"}}))
    assert said.close and said.failure == "codex refused the thread: no rollout found"


def test_the_transcript_shows_messages_commands_and_their_exits() -> None:
    t = talk()
    started(t)
    command = {"type": "commandExecution", "id": "call_1", "status": "inProgress"}
    command["command"] = "/bin/bash -lc 'echo hi'"
    said = t.read("out", note("item/started", item=command, threadId=THREAD, turnId=TURN))
    assert said.show == ["→ Bash: echo hi"]
    command |= {"status": "completed", "exitCode": 0, "aggregatedOutput": "hi\nthere\n"}
    said = t.read("out", note("item/completed", item=command, threadId=THREAD, turnId=TURN))
    assert said.show == ["← exit 0: hi"]
    message = {"type": "agentMessage", "id": "msg_3", "text": "done\nall of it"}
    said = t.read("out", note("item/completed", item=message, threadId=THREAD, turnId=TURN))
    assert said.show == ["  done", "  all of it"]
    assert t.read("err", "ERROR codex_core: something").show == ["ERROR codex_core: something"]


def test_malformed_and_unknown_lines_never_crash() -> None:
    t = talk()
    started(t)
    odd = ['{"method": 3}', '{"id": "x", "result": 1}', '{"id": [1], "error": {}}']
    for text in ["not json", "[1, 2]", "null", '{"params": []}', *odd]:
        assert not t.read("out", text).close
    assert t.read("out", "not json").show == ["not json"]
    assert not t.read("out", note("account/rateLimits/updated", rateLimits={})).show
    said = t.read("out", note("item/started", item="odd"))
    assert not said.show and not said.events
    # a request we cannot answer is refused, never left waiting
    said = t.read("out", line({"method": "item/tool/requestUserInput", "id": 9, "params": {}}))
    (refusal,) = sent(said)
    assert refusal["id"] == 9 and refusal["error"]["code"] == -32601
    said = t.read("out", line({"method": "item/commandExecution/requestApproval", "id": 10}))
    assert said.asks and said.asks[0].detail == ""


def test_a_file_changes_diff_is_in_the_transcript_cut_at_its_limit() -> None:
    t = talk()
    started(t)
    patch = "--- a/b.py\n+++ b/b.py\n@@ -1 +1,60 @@\n-old\n" + "".join(f"+{i}\n" for i in range(60))
    change = {"type": "fileChange", "id": "c3", "status": "inProgress"}
    change["changes"] = [{"path": f"{CWD}/b.py", "kind": {"type": "update"}, "diff": patch}]
    shown = t.read("out", note("item/started", item=change, threadId=THREAD, turnId=TURN)).show
    assert shown[:4] == ["→ Edit: b.py", "    @@ -1 +1,60 @@", "    -old", "    +0"]
    assert len(shown) == 1 + 40 + 1 and shown[-1] == "    … 22 more lines"
