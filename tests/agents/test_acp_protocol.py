"""The ACP talk (engine/agents/acp.py) on lines recorded from the real `gemini --acp` (0.61.0)
against tests/agents/fake_gemini.py; no binary runs here. Shapes, trimmed (``...``: more keys):

we send ``{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1,
"clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal":
false}}}``; it answers with ``authMethods`` (oauth-personal, gemini-api-key, vertex-ai, gateway),
``agentInfo`` and ``agentCapabilities: {"loadSession": true, ...}``; we send ``authenticate``
``{"methodId": "gemini-api-key"}`` (answered ``{}``), then ``session/new`` ``{cwd, mcpServers:
[]}`` (answered ``{"sessionId": ..., "modes": ..., "models": ...}``) or ``session/load``
``{sessionId, cwd, mcpServers}`` (answered without a sessionId; its history is replayed as
``session/update`` notifications, user_message_chunk first, *around and after* the response,
and ``available_commands_update`` follows the replay), then ``session/prompt``. A tool that needs
approval is asked with ``session/request_permission`` (its JSON-RPC id starts at 0) whose
``toolCall`` has ``title`` (a shell call's title is its command), ``kind`` ("execute"),
``locations``, ``content`` (the model's explanation) and no ``rawInput``; options
``proceed_always`` (allow_always), ``proceed_once`` (allow_once), ``cancel`` (reject_once). No
``tool_call`` precedes it; a ``tool_call_update`` (completed) follows the tool's run. The prompt's
response is ``{"stopReason": "end_turn", "_meta": {"quota": {"token_count": {"input_tokens":
200, "output_tokens": 40}, "model_usage": [...]}}}``: the prompt's tokens, summed over its
model requests.
"""

from __future__ import annotations

import json
from typing import Any

from phasegate.engine.agents.acp import AcpAdapter, AcpTalk, GeminiAdapter
from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.agents.talk import Ask, Said
from phasegate.engine.model import events as ev
from phasegate.engine.plan.model import Agent, Permissions, Price, Task

SESSION = "dd9d01e4-c781-411e-ae7c-495bfc71bebe"
CWD = "/work/task"
KEY = {"GEMINI_API_KEY": "sk-test"}
OPTIONS = [
    {"optionId": "proceed_always", "name": "Allow for this session", "kind": "allow_always"},
    {"optionId": "proceed_once", "name": "Allow", "kind": "allow_once"},
    {"optionId": "cancel", "name": "Reject", "kind": "reject_once"},
]
AUTH = [{"id": "oauth-personal", "name": "Log in with Google"}, {"id": "gemini-api-key"}]


def launch(session: str = "", env: dict[str, str] | None = None) -> Launch:
    task = Task(id="w", agent="coder", prompt="make the files")
    return Launch(task, 1, dict(KEY if env is None else env), CWD, session)


def gemini(
    rules: Permissions | None = None,
    price: Price | None = None,
    session: str = "",
    env: dict[str, str] | None = None,
) -> AcpTalk:
    agent = Agent(kind="gemini", permissions=rules, price=price)
    return GeminiAdapter("coder", agent, {}).conversation(launch(session, env))


def line(message: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", **message})


def update(**body: Any) -> str:
    return line({"method": "session/update", "params": {"sessionId": SESSION, "update": body}})


def chunk(text: str) -> str:
    return update(sessionUpdate="agent_message_chunk", content={"type": "text", "text": text})


def initialized(load: bool = True, auth: list[dict[str, Any]] | None = None) -> str:
    caps = {"loadSession": load, "promptCapabilities": {"image": True}}
    info = {"name": "gemini-cli", "title": "Gemini CLI", "version": "0.61.0"}
    methods = AUTH if auth is None else auth
    result = {"protocolVersion": 1, "authMethods": methods, "agentInfo": info}
    return line({"id": 1, "result": {**result, "agentCapabilities": caps}})


def sent(said: Said) -> list[dict[str, Any]]:
    return [json.loads(w) for w in said.write]


def permission(title: str = "touch tool.txt", kind: str = "execute", mid: int = 0) -> str:
    call = {
        "toolCallId": f"run_shell_command__run_shell_command_1796579334782_{mid}",
        "status": "pending",
        "title": title,
        "content": [{"type": "content", "content": {"type": "text", "text": "(make a file)"}}],
        "locations": [],
        "kind": kind,
    }
    params = {"sessionId": SESSION, "options": OPTIONS, "toolCall": call}
    return line({"id": mid, "method": "session/request_permission", "params": params})


def prompted(t: AcpTalk) -> Said:
    """Through the handshake to the prompt; what the new session's response said."""
    t.opening()
    t.read("out", initialized())
    t.read("out", line({"id": 2, "result": {}}))
    return t.read("out", line({"id": 3, "result": {"sessionId": SESSION, "modes": {}}}))


def ended(tokens: tuple[int, int] = (200, 40), stop: str = "end_turn") -> str:
    count = {"input_tokens": tokens[0], "output_tokens": tokens[1]}
    model = [{"model": "gemini-3.8-flash", "token_count": count}]
    meta = {"quota": {"token_count": count, "model_usage": model}}
    return line({"id": 4, "result": {"stopReason": stop, "_meta": meta}})


def test_the_handshake_initializes_authenticates_opens_a_session_then_prompts() -> None:
    t = gemini()
    (opening,) = [json.loads(x) for x in t.opening()]
    assert opening["method"] == "initialize" and opening["id"] == 1
    assert opening["params"] == {
        "protocolVersion": 1,
        "clientCapabilities": {
            "fs": {"readTextFile": False, "writeTextFile": False},
            "terminal": False,
        },
    }
    (auth,) = sent(t.read("out", initialized()))
    assert (auth["method"], auth["params"]) == ("authenticate", {"methodId": "gemini-api-key"})
    (new,) = sent(t.read("out", line({"id": 2, "result": {}})))
    assert (new["method"], new["params"]) == ("session/new", {"cwd": CWD, "mcpServers": []})
    said = t.read("out", line({"id": 3, "result": {"sessionId": SESSION}}))
    (prompt,) = sent(said)
    assert prompt["method"] == "session/prompt"
    assert prompt["params"] == {
        "sessionId": SESSION,
        "prompt": [{"type": "text", "text": "make the files"}],
    }
    assert t.session == SESSION
    assert said.events == [ev.TaskUsage(0.0, "w", 1, session_id=SESSION)]
    assert [m["id"] for m in (opening, auth, new, prompt)] == [1, 2, 3, 4]


def test_authenticate_only_when_the_agent_offers_a_method_the_adapter_has_a_key_for() -> None:
    t = gemini()
    t.opening()
    (first,) = sent(t.read("out", initialized(auth=[{"id": "oauth-personal"}])))
    assert first["method"] == "session/new"
    # offered, but no GEMINI_API_KEY: the agent's own settings choose (no cached login cleared)
    t = gemini(env={})
    t.opening()
    (first,) = sent(t.read("out", initialized()))
    assert first["method"] == "session/new"


def test_a_retry_loads_the_earlier_session_only_when_the_agent_can() -> None:
    t = gemini(session=SESSION)
    t.opening()
    t.read("out", initialized(load=True))
    (load,) = sent(t.read("out", line({"id": 2, "result": {}})))
    assert load["method"] == "session/load"
    assert load["params"] == {"sessionId": SESSION, "cwd": CWD, "mcpServers": []}
    # the history is replayed around the response: none of it is this attempt's transcript
    replay = t.read(
        "out", update(sessionUpdate="user_message_chunk", content={"type": "text", "text": "old"})
    )
    said = t.read("out", line({"id": 3, "result": {"modes": {}}}))
    assert sent(said)[0]["method"] == "session/prompt"
    assert sent(said)[0]["params"]["sessionId"] == SESSION
    assert said.events == [ev.TaskUsage(0.0, "w", 1, session_id=SESSION)]
    old = [
        t.read("out", chunk("an old answer\n")),
        t.read(
            "out",
            update(
                sessionUpdate="tool_call",
                toolCallId="x",
                status="completed",
                title="ls",
                kind="execute",
            ),
        ),
    ]
    assert not replay.show and not any(s.show for s in old)
    done = t.read("out", update(sessionUpdate="available_commands_update", availableCommands=[]))
    assert done.show == ["· the agent replayed 3 updates of its session"]
    assert t.read("out", chunk("a new answer\n")).show == ["  a new answer"]
    # an agent that cannot load: a new session, the prompt saying what came before
    t = gemini(session=SESSION)
    t.opening()
    t.read("out", initialized(load=False))
    (new,) = sent(t.read("out", line({"id": 2, "result": {}})))
    assert new["method"] == "session/new"


def test_a_session_the_agent_cannot_load_is_replaced_by_a_new_one() -> None:
    t = gemini(session=SESSION)
    t.opening()
    t.read("out", initialized())
    t.read("out", line({"id": 2, "result": {}}))
    error = {
        "code": -32603,
        "message": "Internal error",
        "data": {"details": "No previous sessions found for this project."},
    }
    said = t.read("out", line({"id": 3, "error": error}))
    assert [m["method"] for m in sent(said)] == ["session/new"] and not said.failure
    assert "No previous sessions found" in said.show[0]
    said = t.read("out", line({"id": 4, "result": {"sessionId": "fresh"}}))
    assert t.session == "fresh" and sent(said)[0]["method"] == "session/prompt"
    assert t.read("out", chunk("live\n")).show == ["  live"]


def test_a_permission_no_rule_names_is_asked_of_a_person_and_answered_with_its_option() -> None:
    t = gemini()
    prompted(t)
    said = t.read("out", permission())
    (ask,) = said.asks
    assert (ask.request, ask.tool, ask.detail) == (0, "Bash", "touch tool.txt")
    assert ask.reason == "(make a file)" and ask.tool_input == {"command": "touch tool.txt"}
    assert not said.write and said.show == ["? Bash: touch tool.txt (waits for a person)"]
    allowed = json.loads(t.answer(ask, True, ""))
    assert allowed == {
        "jsonrpc": "2.0",
        "id": 0,
        "result": {"outcome": {"outcome": "selected", "optionId": "proceed_once"}},
    }
    (ask,) = t.read("out", permission(mid=1)).asks
    denied = json.loads(t.answer(ask, False, "never"))
    assert denied["id"] == 1
    assert denied["result"]["outcome"] == {"outcome": "selected", "optionId": "cancel"}


def test_the_plans_rules_answer_at_once_with_the_right_option() -> None:
    t = gemini(Permissions(allow=["Bash(touch:*)"], deny=["Bash(rm:*)"]))
    prompted(t)
    said = t.read("out", permission("touch ok.txt"))
    assert not said.asks
    assert sent(said)[0]["result"]["outcome"]["optionId"] == "proceed_once"
    assert said.show == ["✓ Bash: touch ok.txt (the plan's rule Bash(touch:*) allows it)"]
    said = t.read("out", permission("rm -rf important", mid=1))
    assert sent(said)[0] == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"outcome": {"outcome": "selected", "optionId": "cancel"}},
    }
    assert said.show == ["✗ Bash: rm -rf important (the plan's rule Bash(rm:*) denies it)"]
    # a rule may name the agent's own tool
    t = gemini(Permissions(deny=["run_shell_command"]))
    prompted(t)
    assert sent(t.read("out", permission("ls")))[0]["result"]["outcome"]["optionId"] == "cancel"


def test_an_edit_is_asked_with_its_path_and_without_a_fitting_option_is_cancelled() -> None:
    t = gemini()
    prompted(t)
    call = {
        "toolCallId": "write_file__1",
        "title": "Writing to a.txt",
        "kind": "edit",
        "locations": [{"path": f"{CWD}/a.txt"}],
        "content": [{"type": "diff", "path": f"{CWD}/a.txt", "oldText": None, "newText": "x"}],
    }
    options = [{"optionId": "proceed_always", "kind": "allow_always"}]
    params = {"sessionId": SESSION, "options": options, "toolCall": call}
    (ask,) = t.read(
        "out", line({"id": 5, "method": "session/request_permission", "params": params})
    ).asks
    assert (ask.tool, ask.detail, ask.tool_input) == (
        "Edit",
        f"{CWD}/a.txt",
        {"file_path": f"{CWD}/a.txt"},
    )
    # only "allow always" offered: allowing once is not possible, so the call is cancelled
    assert json.loads(t.answer(ask, True, ""))["result"] == {"outcome": {"outcome": "cancelled"}}


def test_message_chunks_are_buffered_into_whole_lines() -> None:
    t = gemini()
    prompted(t)
    assert t.read("out", chunk("Hello, ")).show == []
    assert t.read("out", chunk("world.\nSecond")).show == ["  Hello, world."]
    assert t.read("out", chunk(" line\n\nthird")).show == ["  Second line", "  "]
    # a tool call ends the line so far; the prompt's end ends the last one
    said = t.read(
        "out",
        update(
            sessionUpdate="tool_call",
            toolCallId="c1",
            status="in_progress",
            title="ls -l",
            kind="execute",
        ),
    )
    assert said.show == ["  third", "→ Bash: ls -l"]
    said = t.read(
        "out",
        update(
            sessionUpdate="tool_call_update",
            toolCallId="c1",
            status="completed",
            content=[{"type": "content", "content": {"type": "text", "text": "a.txt"}}],
        ),
    )
    assert said.show == ["← Bash: ls -l · a.txt"]
    failed = update(
        sessionUpdate="tool_call_update",
        toolCallId="c2",
        status="failed",
        title="cat x",
        kind="execute",
        content=[{"type": "content", "content": {"type": "text", "text": "no such file"}}],
    )
    assert t.read("out", failed).show == ["✗ Bash: cat x · no such file"]
    t.read("out", chunk("the end"))
    assert t.read("out", ended()).show[:1] == ["  the end"]


def test_usage_is_counted_once_per_prompt_and_priced_when_the_plan_gives_a_price() -> None:
    t = gemini()
    prompted(t)
    said = t.read("out", ended((200, 40)))
    (usage,) = said.events
    assert isinstance(usage, ev.TaskUsage)
    assert (usage.input_tokens, usage.output_tokens, usage.session_id) == (200, 40, SESSION)
    assert (usage.cost_usd, usage.cost_source) == (0.0, "")
    assert said.close and not said.failure
    assert said.show[-1] == "· end_turn: 200 in / 40 out tokens"
    t = gemini(price=Price(input=1.0, output=10.0))
    prompted(t)
    (usage,) = t.read("out", ended((2_000_000, 100_000))).events
    assert isinstance(usage, ev.TaskUsage)
    assert (usage.cost_usd, usage.cost_source) == (3.0, "priced")
    # ACP's own usage field, with cached tokens
    t = gemini(price=Price(input=1.0, output=10.0, cached=0.5))
    prompted(t)
    tokens = {
        "inputTokens": 1_000_000,
        "outputTokens": 0,
        "cachedReadTokens": 1_000_000,
        "totalTokens": 1,
    }
    (usage,) = t.read(
        "out", line({"id": 4, "result": {"stopReason": "end_turn", "usage": tokens}})
    ).events
    assert isinstance(usage, ev.TaskUsage)
    assert (usage.cached_tokens, usage.cost_usd) == (1_000_000, 0.5)


def test_a_prompt_that_does_not_end_its_turn_or_an_error_response_fails_the_task() -> None:
    for stop in ("refusal", "cancelled", "max_tokens", "max_turn_requests"):
        t = gemini()
        prompted(t)
        said = t.read("out", ended(stop=stop))
        assert said.close and said.failure == f"the agent stopped the prompt: {stop}"
    t = gemini()
    prompted(t)
    error = {"code": 429, "message": "Rate limit exceeded. Try again later."}
    said = t.read("out", line({"id": 4, "error": error}))
    assert said.close
    assert said.failure == (
        "the agent answered session/prompt with an error: Rate limit exceeded. Try again later."
    )
    # (Gemini CLI passes the API's error on as JSON text: its message is what is kept)
    t = gemini()
    prompted(t)
    api = '{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}'
    said = t.read("out", line({"id": 4, "error": {"code": 400, "message": api}}))
    assert said.failure.endswith("session/prompt with an error: API key not valid.")
    t = gemini()
    t.opening()
    said = t.read("out", line({"id": 1, "error": {"code": -32600, "message": "bad version"}}))
    assert said.close and "initialize" in said.failure and "bad version" in said.failure


def test_any_other_request_of_the_client_is_answered_not_supported() -> None:
    t = gemini()
    prompted(t)
    for mid, method in ((7, "fs/read_text_file"), ("t-1", "terminal/create")):
        said = t.read("out", line({"id": mid, "method": method, "params": {"path": "/etc/x"}}))
        (reply,) = sent(said)
        assert reply["id"] == mid and reply["error"]["code"] == -32601
        assert method in reply["error"]["message"] and "not supported" in reply["error"]["message"]


def test_malformed_and_unknown_lines_never_crash_the_talk() -> None:
    t = gemini()
    prompted(t)
    for text in [
        "not json",
        "[1, 2]",
        "null",
        "{}",
        line({"id": 99, "result": {}}),
        line({"id": "4", "result": {}}),
        line({"method": "session/update"}),
        line({"method": "session/update", "params": {"update": "x"}}),
        update(sessionUpdate="agent_message_chunk", content="x"),
        update(sessionUpdate="tool_call_update"),
        update(sessionUpdate="plan", entries=[1, {"content": "step", "status": "completed"}]),
        update(sessionUpdate="something_new", x=1),
        line({"id": 3, "method": "session/request_permission", "params": "x"}),
        line({"id": 3, "method": "session/request_permission", "params": {"toolCall": 5}}),
    ]:
        said = t.read("out", text)
        assert not said.failure and not said.close and not said.events
    assert t.read("err", "Ripgrep is not available.").show == ["Ripgrep is not available."]
    assert t.read("out", ended()).close


def test_the_adapters_start_the_agent_with_its_command() -> None:
    acp = Agent(kind="acp", binary="my-agent", args=["--stdio"], env={"X": "1"})
    adapter = adapter_for("helper", acp, {})
    assert isinstance(adapter, AcpAdapter) and not isinstance(adapter, GeminiAdapter)
    spec, shown = adapter.spec(launch())
    assert spec.argv[:2] == ["my-agent", "--stdio"] and spec.stdin
    assert spec.env["X"] == "1" and spec.env["GEMINI_API_KEY"] == "sk-test"
    assert shown == "my-agent (acp): make the files"
    gem = adapter_for("coder", Agent(kind="gemini", model="gemini-2.5-pro"), {})
    assert isinstance(gem, GeminiAdapter)
    spec, shown = gem.spec(launch())
    assert spec.argv == ["gemini", "--acp", "--model", "gemini-2.5-pro"]
    assert shown.startswith("gemini (gemini): make the files")
    rework = Launch(Task(id="w", prompt="make it"), 2, {"PHASEGATE_FEEDBACK": "smaller"}, CWD, "s")
    assert gem.prompt(rework).startswith("The work was sent back by its reviewer: smaller")


def test_an_ask_keeps_its_options_until_answered() -> None:
    t = gemini()
    prompted(t)
    (ask,) = t.read("out", permission(mid=0)).asks
    assert isinstance(ask, Ask)
    first = json.loads(t.answer(ask, True, ""))
    assert first["result"]["outcome"]["optionId"] == "proceed_once"
    # (answered twice, e.g. a late timeout: the options are gone, the call is cancelled)
    assert json.loads(t.answer(ask, True, ""))["result"]["outcome"] == {"outcome": "cancelled"}


def test_an_edits_diff_is_in_the_transcript() -> None:
    t = gemini()
    prompted(t)
    said = t.read(
        "out",
        update(
            sessionUpdate="tool_call",
            toolCallId="e1",
            status="in_progress",
            title="a.py",
            kind="edit",
            locations=[{"path": "/w/a.py"}],
            content=[
                {"type": "diff", "path": "/w/a.py", "oldText": "x = 1\n", "newText": "x = 2\n"}
            ],
        ),
    )
    assert said.show == ["→ Edit: /w/a.py", "    @@ -1 +1 @@", "    -x = 1", "    +x = 2"]


def test_a_new_session_in_place_of_one_that_cannot_go_on_is_told_how_it_ended() -> None:
    history = ("→ Bash: make test", "← Bash: make test · 2 failed", "  I will fix the parser")
    agent = Agent(kind="gemini")
    task = Task(id="w", agent="coder", prompt="make the files")
    t = GeminiAdapter("coder", agent, {}).conversation(
        Launch(task, 2, dict(KEY), CWD, SESSION, 0.0, history)
    )
    t.opening()
    t.read("out", initialized(load=False))  # (an agent that cannot load a session)
    t.read("out", line({"id": 2, "result": {}}))
    said = t.read("out", line({"id": 3, "result": {"sessionId": "fresh"}}))
    (text,) = [p["text"] for p in sent(said)[0]["params"]["prompt"]]
    assert text.startswith("An earlier attempt at this task ended; its session could not be")
    assert "← Bash: make test · 2 failed\n  I will fix the parser\n\n" in text
    assert text.endswith("make the files")
    # an agent that goes on with its session is not told again
    t = GeminiAdapter("coder", agent, {}).conversation(
        Launch(task, 2, dict(KEY), CWD, SESSION, 0.0, history)
    )
    t.opening()
    t.read("out", initialized(load=True))
    t.read("out", line({"id": 2, "result": {}}))
    said = t.read("out", line({"id": 3, "result": {}}))
    (text,) = [p["text"] for p in sent(said)[0]["params"]["prompt"]]
    assert "earlier attempt" not in text
