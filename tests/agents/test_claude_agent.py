"""Claude Code as a plan's agent (`kind: claude`), end to end: the real CLI, driven by the
engine in its protocol, against the scripted fake API. A tool request is a prompt routed like a
gate (`phasegate gates` lists it as kind: permission; `approve` allows it, `reject` denies it
with the reason the model reads), or the plan's rules answer it; usage and the session are
the CLI's own figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from . import runs
from .fake_anthropic import FakeAnthropic, Slow, Text, ToolUse, Usage
from .runs import until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # (the real CLI, seconds a test)


class Run(runs.Run):
    """A plan of one claude agent `coder` (its HOME and TMPDIR the test's, pointed at the fake)
    and its task `w`; `extra` adds to the plan."""

    def __init__(
        self,
        tmp_path: Path,
        claude: Path,
        fake: FakeAnthropic,
        rules: str,
        extra: str = "",
        detach: bool = True,
    ) -> None:
        (tmp_path / "home").mkdir()
        (tmp_path / "tmp").mkdir()
        plan = f"""
name: agent
agents:
  coder:
    kind: claude
    binary: {claude}
    env:
      ANTHROPIC_BASE_URL: "{fake.url}"
      ANTHROPIC_API_KEY: sk-test
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
      HOME: "{tmp_path / "home"}"
      TMPDIR: "{tmp_path / "tmp"}"
    permissions: {rules}
  sh: {{}}
phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "make the files for {{run_id}}"}}]
{extra}"""
        super().__init__(tmp_path, plan, detach)
        self.user = psutil.Process().username()


def test_a_tool_request_is_allowed_and_another_denied_from_the_command_line(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.usage = Usage(input_tokens=1000, output_tokens=50)
    fake.script(
        ToolUse("Bash", {"command": "touch tool.txt", "description": "make a file"}),
        ToolUse("Bash", {"command": "rm -rf important", "description": "clean up"}),
        Text("done"),
    )
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}")
    first = until("the first request", run.asked)
    assert (first["tool"], first["detail"], first["task"]) == ("Bash", "touch tool.txt", "w")
    allowed = run.pg("approve", run.id, first["id"])
    assert allowed.returncode == 0, allowed.stderr
    assert "allowed Bash (touch tool.txt) for task w" in allowed.stdout
    until("the allowed command to run", (tmp_path / "tool.txt").exists)
    second = until(
        "the second request", lambda: (a := run.asked()) and a["id"] != first["id"] and a
    )
    assert second["detail"] == "rm -rf important"
    denied = run.pg("reject", run.id, second["id"], "--reason", "never delete that")
    assert denied.returncode == 0, denied.stderr
    shown = run.ended()
    assert shown["status"] == "succeeded"
    # the fake API saw the allowed tool's result, then our denial as the next tool result
    results = [b for r in fake.conversation for b in r.blocks("tool_result")]
    assert results[0]["is_error"] is False
    assert "never delete that" in json.dumps(results[-1]) and results[-1]["is_error"] is True
    task = {t["id"]: t for t in shown["tasks"]}["w"]
    # tokens as the fake API reported them, three requests; the cost as the CLI priced them
    assert (task["usage"]["input_tokens"], task["usage"]["output_tokens"]) == (3000, 150)
    assert task["usage"]["cost_usd"] > 0 and task["usage"]["cost_source"] == "reported"
    assert task["session_id"]
    logs = run.pg("logs", run.id, "w").stdout
    assert "→ Bash: touch tool.txt" in logs and "denied by" in logs and "  done" in logs
    assert "✗ Bash: denied by " in logs and ": never delete that" in logs  # (its reason, apart)
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    votes = [(r["gate"], r["decision"], r["uid"]) for r in audit if r["gate"]]
    assert votes == [(first["id"], "approve", os.geteuid()), (second["id"], "reject", os.geteuid())]


def test_the_plans_rules_answer_without_a_person(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(
        ToolUse("Bash", {"command": "touch ok.txt"}),
        ToolUse("Bash", {"command": "rm -rf important"}),
        Text("done"),
    )
    run = Run(tmp_path, claude_bin, fake, '{allow: ["Bash(touch:*)"], deny: ["Bash(rm:*)"]}')
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "ok.txt").exists()
    results = [b for r in fake.conversation for b in r.blocks("tool_result")]
    # (the CLI is given the plan's deny rules: it refuses the call itself, every call)
    said = "Permission to use Bash with command rm -rf important has been denied"
    assert said in json.dumps(results[-1])
    assert run.asked() is None


def test_a_request_nobody_answers_is_denied_at_its_timeout(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(ToolUse("Bash", {"command": "touch late.txt"}), Text("gave up"))
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash], timeout: 1s}")
    assert run.ended()["status"] == "succeeded"
    assert not (tmp_path / "late.txt").exists()
    results = [b for r in fake.conversation for b in r.blocks("tool_result")]
    assert "nobody answered within 1s" in json.dumps(results[-1])


def test_a_rejected_gate_sends_its_feedback_to_the_same_session(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(Text("a first draft"), Text("a second draft"))
    gate = """  - id: q
    tasks: [{id: after, agent: sh, run: "true"}]
gates:
  - {id: review, after: p, on_reject: {rewind_to: p, max_attempts: 2}}
"""
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}", extra=gate)
    until("the review", lambda: run.gate_open("review"))
    first_session = {t["id"]: t for t in run.show()["tasks"]}["w"]["session_id"]
    rejected = run.pg("reject", run.id, "review", "--reason", "use smaller steps")
    assert rejected.returncode == 0, rejected.stderr
    until("the review again", lambda: len(fake.conversation) == 2 and run.gate_open("review"))
    # the rework went on with the agent's session: its request holds the first exchange, then
    # the reviewer's words
    again = fake.conversation[1]
    said = json.dumps(again.messages)
    assert "a first draft" in said and "use smaller steps" in said
    assert {t["id"]: t for t in run.show()["tasks"]}["w"]["session_id"] == first_session
    assert run.pg("approve", run.id, "review").returncode == 0
    usage = {t["id"]: t for t in run.ended()["tasks"]}["w"]["usage"]
    assert run.show()["status"] == "succeeded"
    # the CLI reports the session's running cost; each attempt records only what it added:
    # both prompts used the same tokens (the fake's), so both shares are the same, and the
    # task's cost is their sum (the old way counted the first one twice)
    shares = [d["cost_usd"] for d in run.usage_events()]
    shares = [c for c in shares if c]  # (the session's first word carries no cost)
    assert len(shares) == 2 and shares[0] > 0
    assert abs(shares[1] - shares[0]) < 1e-9
    assert abs(usage["cost_usd"] - 2 * shares[0]) < 1e-9


def test_a_tool_allowed_for_the_rest_of_the_task_is_not_asked_again(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(
        ToolUse("Bash", {"command": "touch a.txt"}),
        ToolUse("Bash", {"command": "touch b.txt"}),
        Text("done"),
    )
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}")
    first = until("the first request", run.asked)
    allowed = run.pg("approve", run.id, first["id"], "--for-task")
    assert allowed.returncode == 0, allowed.stderr
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").exists()
    gates = json.loads(run.pg("gates", run.id, "--json").stdout)["gates"]
    asks = [(g["detail"], g["status"], g["by"]) for g in gates if g["kind"] == "permission"]
    me = run.pg("audit", run.id, "--json")
    assert me.returncode == 0
    user = json.loads(me.stdout)["audit"][0]["user"]  # (the run's starter: this test's user)
    assert asks == [("touch a.txt", "allowed", user), ("touch b.txt", "allowed", user)]
    logs = run.pg("logs", run.id, "w").stdout
    assert "allowed for the rest of the task" in logs
    # the first request waited for a person; the second, answered at once, is not said to wait
    assert "? Bash: touch a.txt (waits for a person)" in logs
    assert "? Bash: touch b.txt\n" in logs and "touch b.txt (waits" not in logs


def test_after_kill_9_of_the_engine_resume_goes_on_with_the_agents_session(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(ToolUse("Bash", {"command": "touch first.txt"}), Text("picked up again"))
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}")
    asked = until("the request", run.asked)
    session = {t["id"]: t for t in run.show()["tasks"]}["w"]["session_id"]
    assert session  # (kept as soon as the CLI said it)
    run.kill_engine()
    resumed = run.pg("resume", run.id, "--headless")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    shown = run.show()
    task = {t["id"]: t for t in shown["tasks"]}["w"]
    assert shown["status"] == "succeeded" and task["attempts"] == 2
    assert task["session_id"] == session
    # the second attempt went on with the same conversation: the model saw the first request
    last = fake.conversation[-1]
    assert "touch first.txt" in json.dumps(last.messages)
    # the request the dead engine asked is closed: nobody can answer it any more
    gates = json.loads(run.pg("gates", run.id, "--json").stdout)["gates"]
    old = {g["id"]: g for g in gates}[asked["id"]]
    assert (old["status"], old["by"], old["message"]) == (
        "denied", "engine", "the engine stopped before an answer"
    )  # fmt: skip
    assert run.asked() is None


def test_an_agents_budget_warns_at_80_percent_and_stops_its_tasks_when_spent(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(Text("one"), Text("two"), Text("three"))
    # each prompt costs $0.0008 at the CLI's prices (the fake's 100 in, 20 out tokens)
    budgeted = "{ask: [Bash]}\n    budget: {usd: 0.0015}"
    run = Run(
        tmp_path,
        claude_bin,
        fake,
        budgeted,
        extra="""  - id: more
    tasks:
      - {id: w2, agent: coder, prompt: "again"}
      - {id: w3, agent: coder, prompt: "and again", needs: [w2]}
""",
    )
    shown = run.ended()
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert (tasks["w"]["status"], tasks["w2"]["status"]) == ("succeeded", "succeeded")
    assert tasks["w3"]["status"] == "failed"
    assert "the budget of agent coder is spent" in tasks["w3"]["reason"]
    assert len(fake.conversation) == 2  # w3 never reached the model
    assert shown["status"] == "failed"
    risks = json.loads(run.pg("risks", run.id, "--json", "--all").stdout)["risks"]
    budget = sorted((r["severity"], r["message"]) for r in risks if r["key"].startswith("budget"))
    assert [s for s, _ in budget] == ["high"]  # (raised at 80%, then raised again as spent)
    assert "$0.0016 of $0.0015 spent: its budget is spent" in budget[0][1]


def test_a_phase_budget_of_turns_asks_and_resuming_extends_it(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(Text("one"), Text("two"), Text("three"), Text("four"))
    run = Run(
        tmp_path,
        claude_bin,
        fake,
        "{ask: [Bash]}",
        extra="""  - id: more
    budget: {turns: 1, action: ask}
    tasks:
      - {id: w2, agent: coder, prompt: "again"}
      - {id: w3, agent: coder, prompt: "and again", needs: [w2]}
      - {id: w4, agent: coder, prompt: "once more", needs: [w3]}
""",
    )

    def asking(before: object = None) -> dict[str, Any] | None:
        shown = run.show()
        question = shown["question"]
        waiting = shown["status"] == "paused" and question and question != before
        return shown if waiting else None

    def asked_and_w2_ended() -> dict[str, Any] | None:
        # (the turn's usage spends the budget as it streams: the question may come while w2
        # is still ending, and a paused run lets a running task end)
        shown = asking()
        ended = shown and {t["id"]: t for t in shown["tasks"]}["w2"]["finished_at"]
        return shown if ended else None

    shown = until("the budget's question, w2 ended", asked_and_w2_ended)
    question = shown["question"]
    assert question["risk"] == "budget:phase more"
    assert "the budget of phase more is spent (1 of 1 turns spent)" in question["reason"]
    assert "resume to extend it by 1 turns" in question["reason"]
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert tasks["w2"]["status"] == "succeeded" and tasks["w3"]["status"] == "ready"
    assert len(fake.conversation) == 2  # phase p's task is not in the phase's budget
    # going on extends the budget by its size: w3 runs, spends it again, and it asks again
    assert run.pg("resume", run.id).returncode == 0
    shown = until("the second question", lambda: asking(question))
    assert "(2 of 2 turns spent)" in shown["question"]["reason"]
    assert len(fake.conversation) == 3
    # cancelling answers no: w4 never reaches the model
    assert run.pg("cancel", run.id).returncode == 0
    shown = run.ended()
    assert shown["status"] == "cancelled" and len(fake.conversation) == 3
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    extended = [(r["decision"], r["reason"], r["user"]) for r in audit if "budget" in r["decision"]]
    assert extended == [("budget of phase more extended", "+$0 +0 tokens +1 turns", run.user)]


def test_a_task_is_admitted_with_what_it_cost_before(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(Text("one"), Text("two"), Text("three"), Text("four"))
    more = """  - id: more
    tasks: [{id: w2, agent: coder, prompt: "again"}]
"""
    first = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}", extra=more)
    assert first.ended()["status"] == "succeeded"  # each task cost $0.0008: history has it
    plan = tmp_path / "agent.yaml"
    plan.write_text(plan.read_text() + "budget: {usd: 0.0012}\n")
    started = first.pg("run", "agent.yaml", "--detach")
    assert started.returncode == 0, started.stderr
    first.id = started.stdout.split()[-1]
    shown = first.ended()
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert tasks["w"]["status"] == "succeeded"
    # w2 would take the run to $0.0016 of $0.0012: not started, and the model never asked
    assert tasks["w2"]["status"] == "failed"
    assert tasks["w2"]["reason"].startswith(
        "not admitted: w2 is expected to cost $0.0008 (the median of its earlier runs); "
        "with $0.0008 spent, the budget of run ($0.0012) would be overrun"
    )
    assert len(fake.conversation) == 3


def test_a_tool_request_is_allowed_from_the_dashboard_in_a_terminal(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(
        ToolUse("Bash", {"command": "touch yes.txt", "description": "make a file"}),
        ToolUse("Bash", {"command": "touch no.txt", "description": "another"}),
        Text("done"),
    )
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}", detach=False)
    with run.term() as term:
        term.wait_for(
            lambda s: "A coding agent asks to use a tool" in s and "touch yes.txt" in s,
            "the permission prompt at 80x24",
        )
        term.keys("a")  # (asks to confirm: ctrl+s allows)
        term.wait_for(lambda s: "ctrl+s confirms" in s, "the confirmation")
        term.keys("C-s")
        until("the allowed command to run", (tmp_path / "yes.txt").exists)
        second = until(
            "the second request", lambda: (a := run.asked()) and a["detail"] == "touch no.txt" and a
        )
        assert run.pg("reject", run.id, second["id"], "--reason", "not that").returncode == 0
        assert run.ended()["status"] == "succeeded"
        term.wait_for(lambda s: "asks to use a tool" not in s, "the prompt to close")
        term.keys("q")
        term.wait_for(lambda s: "EXITED=0" in s, "phasegate to exit")
    assert not (tmp_path / "no.txt").exists()
    results = [b for r in fake.conversation for b in r.blocks("tool_result")]
    assert results[0]["is_error"] is False and results[-1]["is_error"] is True
    assert "not that" in json.dumps(results[-1])


def test_a_model_that_answers_late_raises_a_silent_agent_risk(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    fake.script(Slow(8, Text("at last")))
    run = Run(tmp_path, claude_bin, fake, "{ask: [Bash]}", extra="risks: {silent_after: 1s}\n")

    def silent() -> dict[str, Any] | None:
        # (on a busy machine the CLI may be quiet for a second before its first line: the risk
        # is then raised without one, cleared by that line, and raised again with it)
        found = [r for r in run.risks() if r["key"] == "silent:w" and "its last" in r["message"]]
        return found[0] if found else None

    risk = until("the silent_agent risk", silent, seconds=30)
    assert risk["subject"] == "agent coder" and "task w has printed nothing for" in risk["message"]
    assert "its last line: · session" in risk["message"]  # what the agent did last
    assert run.ended()["status"] == "succeeded"


def test_a_token_budget_stops_the_prompt_that_spends_it(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake = fake_anthropic
    # each model response reads 100 input tokens: the prompt's second one spends the budget
    fake.script(
        ToolUse("Bash", {"command": "touch one.txt"}),
        ToolUse("Bash", {"command": "touch two.txt"}),
        Text("done"),
    )
    rules = '{allow: ["Bash(touch one.txt)"], ask: [Bash]}\n    budget: {tokens: 150}'
    run = Run(tmp_path, claude_bin, fake, rules)
    shown = run.ended()
    task = {t["id"]: t for t in shown["tasks"]}["w"]
    # stopped while its prompt ran, on the second response's tokens: not at the prompt's end
    assert task["status"] == "cancelled", task
    assert task["reason"].startswith("the budget of agent coder is spent (202 of 150 tokens")
    assert (tmp_path / "one.txt").exists() and not (tmp_path / "two.txt").exists()
    assert len(fake.conversation) == 2  # (the prompt never reached its third request)
