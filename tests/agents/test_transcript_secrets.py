"""A declared secret never reaches a coding agent's transcript, in any piece (regression: the
adapters joined a tool's output onto one line, indented the model's lines and cut at 300
characters before the run's redactor saw them: `← zq9XvB7 mLk2PpR 4tYw8N`, `  split:
zq9XvB7mLk` / `  2PpR4tYw8N`, `aaa…aaazq9XvB7mLk2P`; Codex showed a command's first line,
`← exit 0: zq9XvB7`). Each raw block is redacted whole first, then shaped; what the agent is
answered (a tool's input as sent) is left as it was. The lines recorded from the real CLIs'
shapes (see test_claude_protocol, test_codex_protocol, test_acp_protocol).

Also here, on the same talks: a Claude result that is an error (`subtype: success`, `is_error`)
is the failure's reason and not called success; Claude's tokens count what it wrote to the
cache; a Gemini prompt is a turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.agents.talk import Said, Talk
from phasegate.engine.model import events as ev
from phasegate.engine.model.secrets import LineWindow, Redactor
from phasegate.engine.plan.model import Agent, Permissions, Task

from . import test_acp_protocol as acp
from . import test_codex_protocol as codex

KEY = "zq9XvB7mLk2PpR4tYw8N"
MARK = "«DEPLOY_TOKEN»"
FOLDED = "zq9XvB7\nmLk2PpR\n4tYw8N\n"  # (echo $DEPLOY_TOKEN | fold -w 7)
SPLIT = "split: zq9XvB7mLk\n2PpR4tYw8N"  # (the model's text over two lines)
LONG = "a" * 290 + KEY  # (past the 300 characters a transcript line keeps)
TYPED = "echo zq9XvB7mLk\n  2PpR4tYw8N"  # (a tool's input holding it, indented)
CUT = ("a" * 290 + MARK)[:300]  # (cut after the secret is replaced: a piece of its mark)


def pieces(lines: list[str], size: int = 6) -> list[str]:
    """The pieces of KEY (of `size` characters: fold -w 7 gives 7) the lines still hold."""
    text = "\n".join(lines)
    return [KEY[i : i + size] for i in range(len(KEY) - size + 1) if KEY[i : i + size] in text]


def talk(kind: str, rules: Permissions | None = None) -> Talk:
    """A conversation of an agent of `kind` whose task is given DEPLOY_TOKEN (by the agent)."""
    agent = Agent(kind=kind, secrets=["DEPLOY_TOKEN"], permissions=rules)
    env = {"DEPLOY_TOKEN": KEY, "GEMINI_API_KEY": "sk-test"}
    launch = Launch(Task(id="w", agent="coder", prompt="p"), 1, env, "/work/task")
    found = adapter_for("coder", agent, {}).conversation(launch)
    assert found is not None
    return found


def kept(lines: list[str]) -> list[str]:
    """The lines as the run keeps them (its redactor and line window after the talk's)."""
    window = LineWindow(Redactor({"DEPLOY_TOKEN": KEY}))
    return [x for line in lines for x in window.push(line)] + window.flush()


# -- Claude Code ----------------------------------------------------------------------------


def claude_line(kind: str, content: list[dict[str, Any]], **more: Any) -> str:
    role = "assistant" if kind == "assistant" else "user"
    return json.dumps({"type": kind, "message": {"role": role, "content": content, **more}})


def tool_result(text: str | list[dict[str, Any]]) -> str:
    block = {"tool_use_id": "toolu_1", "type": "tool_result", "content": text, "is_error": False}
    return claude_line("user", [block])


def test_claudes_tool_output_text_and_input_show_no_piece_of_a_secret() -> None:
    t = talk("claude")
    shown: list[str] = []
    for text in (FOLDED, LONG):
        shown += t.read("out", tool_result(text)).show
    parts = [{"type": "text", "text": "zq9XvB7mLk"}, {"type": "text", "text": "2PpR4tYw8N"}]
    shown += t.read("out", tool_result(parts)).show  # (a value split between two parts)
    use = {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": TYPED}}
    said = t.read("out", claude_line("assistant", [{"type": "text", "text": SPLIT}, use]))
    shown += said.show
    assert not pieces(shown), shown
    assert shown[:3] == [f"← {MARK} {MARK} {MARK}", f"← {CUT}", f"← {MARK} {MARK}"]
    assert shown[3:] == [f"  split: {MARK}", f"  {MARK}", f"→ Bash: echo {MARK} {MARK}"]
    assert not pieces(kept(shown))


def test_claudes_tool_request_shows_no_secret_but_is_allowed_with_its_input_as_sent() -> None:
    t = talk("claude", Permissions(allow=["Bash"]))
    request = {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": TYPED}}
    request["description"] = SPLIT
    said = t.read(
        "out", json.dumps({"type": "control_request", "request_id": "r1", "request": request})
    )
    assert not pieces(said.show) and said.show == [
        f"✓ Bash: echo {MARK} {MARK} (the plan's rule Bash allows it)"
    ]
    (answer,) = [json.loads(w) for w in said.write]
    assert answer["response"]["response"]["updatedInput"] == {"command": TYPED}
    asked = talk("claude").read("out", json.dumps({"type": "control_request", **{
        "request_id": "r2", "request": request}})).asks  # fmt: skip
    assert (asked[0].detail, asked[0].reason) == (f"echo {MARK} {MARK}", f"split: {MARK} {MARK}")
    assert asked[0].tool_input == {"command": TYPED}


def claude_result(**body: Any) -> str:
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0}
    result = {"type": "result", "num_turns": 1, "session_id": "s1", "total_cost_usd": 0, **body}
    return json.dumps({"usage": usage, **result})


def test_a_claude_result_that_is_an_error_is_the_reason_and_not_called_success() -> None:
    why = "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)"
    said = talk("claude").read("out", claude_result(subtype="success", is_error=True, result=why))
    assert said.failure == why and said.close
    assert said.show[-1].startswith("· error: 1 turns")
    ok = talk("claude").read("out", claude_result(subtype="success", is_error=False, result="ok"))
    assert not ok.failure and ok.show[-1].startswith("· success: 1 turns")
    turns = talk("claude").read("out", claude_result(subtype="error_max_turns", is_error=True))
    assert turns.failure == "the agent ended with error_max_turns"


def test_claudes_tokens_count_what_it_wrote_to_the_cache_as_input() -> None:
    t = talk("claude")
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 200}
    usage |= {"cache_read_input_tokens": 1000, "output_tokens": 5}
    body = {"role": "assistant", "id": "msg_1", "usage": usage, "content": []}
    said = t.read("out", json.dumps({"type": "assistant", "message": body}))
    (partial,) = [e for e in said.events if isinstance(e, ev.TaskUsage)]
    # input: all of it (new, written to the cache, read from it), as Codex counts; cached: read
    assert (partial.input_tokens, partial.output_tokens, partial.cached_tokens) == (1210, 5, 1000)
    end = json.loads(claude_result(subtype="success", is_error=False))
    said = t.read("out", json.dumps(end | {"usage": usage | {"output_tokens": 30}}))
    (rest,) = [e for e in said.events if isinstance(e, ev.TaskUsage)]
    assert (rest.input_tokens, rest.output_tokens, rest.cached_tokens) == (0, 25, 0)
    assert "1210 in / 30 out tokens" in said.show[-1]


# -- Codex ----------------------------------------------------------------------------------


def test_codexs_command_output_message_and_request_show_no_piece_of_a_secret() -> None:
    t = talk("codex", Permissions(allow=["Bash"]))
    codex.started(t)  # type: ignore[arg-type]
    shown: list[str] = []
    command = {"type": "commandExecution", "id": "call_1", "status": "inProgress"}
    command["command"] = "/bin/bash -lc 'echo $DEPLOY_TOKEN | fold -w 7'"
    shown += t.read("out", codex.note("item/started", item=command)).show
    for output in (FOLDED, LONG):
        done = command | {"status": "completed", "exitCode": 0, "aggregatedOutput": output}
        shown += t.read("out", codex.note("item/completed", item=done)).show
    message = {"type": "agentMessage", "id": "msg_1", "text": SPLIT}
    shown += t.read("out", codex.note("item/completed", item=message)).show
    said = t.read("out", codex.command_asked(0, TYPED))
    shown += said.show
    assert not pieces(shown), shown
    assert shown[1:4] == [f"← exit 0: {MARK}", f"← exit 0: {CUT}", f"  split: {MARK}"]
    allowed = f"✓ Bash: echo {MARK} {MARK} (the plan's rule Bash allows it)"
    assert shown[4:] == [f"  {MARK}", allowed]
    error = codex.note("error", error={"message": SPLIT}, willRetry=False)
    assert not pieces(t.read("out", error).show)


def test_codexs_rules_judge_a_command_as_sent() -> None:
    t = talk("codex", Permissions(allow=[f"Bash(echo {KEY})"]))
    codex.started(t)  # type: ignore[arg-type]
    said = t.read("out", codex.command_asked(0, f"echo {KEY}"))
    assert [json.loads(w)["result"]["decision"] for w in said.write] == ["accept"]
    assert said.show[0].startswith(f"✓ Bash: echo {MARK} (")  # (the rule is the plan's text)


# -- an ACP agent (Gemini CLI) -------------------------------------------------------------


def test_an_acp_agents_message_in_chunks_and_tool_output_show_no_piece_of_a_secret() -> None:
    t = talk("gemini", Permissions(allow=["Bash"]))
    acp.prompted(t)  # type: ignore[arg-type]
    shown: list[str] = []
    for text in ("split: zq9XvB7", "mLk\n2P", "pR4tYw8N\nand more\n", "the end"):
        shown += t.read("out", acp.chunk(text)).show
    for ident, output in (("c1", FOLDED), ("c2", LONG)):
        call = {"toolCallId": ident, "status": "in_progress", "title": "run", "kind": "execute"}
        shown += t.read("out", acp.update(sessionUpdate="tool_call", **call)).show
        content = [{"type": "content", "content": {"type": "text", "text": output}}]
        done = {"toolCallId": ident, "status": "completed", "content": content}
        shown += t.read("out", acp.update(sessionUpdate="tool_call_update", **done)).show
    shown += t.read("out", acp.permission(title=TYPED, mid=7)).show
    shown += t.read("out", "a stderr line " + KEY[:10] + "\n  " + KEY[10:]).show
    said = t.read("out", acp.ended())
    shown += said.show
    assert not pieces(shown), shown
    assert shown[:4] == [f"  split: {MARK}", f"  {MARK}", "  and more", "  the end"]
    assert shown[4:6] == ["→ Bash: run", f"← Bash: run · {MARK} {MARK} {MARK}"]
    assert shown[8].startswith("✓ Bash: echo «DEPLOY_TOKEN» «DEPLOY_TOKEN»")
    (answer,) = [json.loads(w) for w in t.read("out", acp.permission(TYPED, mid=8)).write]
    assert answer["result"]["outcome"] == {"outcome": "selected", "optionId": "proceed_once"}


def test_an_acp_agent_with_no_secret_shows_its_message_lines_at_once() -> None:
    t = acp.gemini()
    acp.prompted(t)
    assert t.read("out", acp.chunk("one\ntwo")).show == ["  one"]


def test_a_gemini_prompt_is_a_turn_so_a_budget_of_turns_counts_it() -> None:
    t = talk("gemini")
    acp.prompted(t)  # type: ignore[arg-type]
    said: Said = t.read("out", acp.ended())
    (usage,) = [e for e in said.events if isinstance(e, ev.TaskUsage)]
    assert usage.turns == 1


@pytest.mark.parametrize("kind", ["claude", "codex", "gemini"])
def test_an_agent_not_given_the_secret_still_runs(kind: str) -> None:
    agent = Agent(kind=kind)
    launch = Launch(Task(id="w", agent="coder", prompt="p"), 1, {}, "/work/task")
    t = adapter_for("coder", agent, {}).conversation(launch)
    assert t is not None and t.opening()


def test_a_secret_split_by_written_escapes_in_a_command_is_taken_out() -> None:
    """Regression: a Codex command `printf 'zq9XvB7\\nmLk2PpR\\n4tYw8N'` (the value split by
    `\\n` written as escapes, not by line breaks) showed the whole secret in the transcript."""
    r = Redactor({"DEPLOY_TOKEN": KEY})
    said = r.text("→ Bash: printf 'zq9XvB7\\nmLk2PpR\\t4tYw8N\\n'")
    assert said == "→ Bash: printf '«DEPLOY_TOKEN»\\n'"
    assert not pieces([said])
    assert r.text("a\\nb, no secret") == "a\\nb, no secret"
