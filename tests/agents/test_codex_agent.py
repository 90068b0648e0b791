"""Codex as a plan's agent (`kind: codex`), end to end: the real CLI (`codex app-server`), driven
by the engine in its JSON-RPC protocol, against the scripted fake OpenAI Responses API. Each
command and file change Codex wants is asked of the engine: the plan's rules answer it, or a
person does from the command line; the tokens are Codex's own count of the fake's figures, the
cost is the plan's price of them, the session is Codex's thread."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from . import runs
from .fake_openai import Fail, FakeOpenAI, Shell, Slow, Text, Usage
from .runs import until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # (the real CLI, seconds a test)

# Codex's settings for a run offline: the fake as its only provider (no retries: a failure is
# the fake's answer), no update check, analytics or plugins (then it looks nothing up)
CONFIG = """model = "gpt-5.5"
model_provider = "fake"
check_for_update_on_startup = false

[model_providers.fake]
name = "fake"
base_url = "{url}"
env_key = "FAKE_OPENAI_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
"""


class Run(runs.Run):
    """A plan of one codex agent `coder` (its own CODEX_HOME pointed at the fake) and its task
    `w`; `agent` adds to the agent's keys, `task` to the task's, `extra` to the plan."""

    def __init__(
        self,
        tmp_path: Path,
        codex: Path,
        fake: FakeOpenAI,
        rules: str,
        agent: str = "",
        task: str = "",
        extra: str = "",
        detach: bool = True,
    ) -> None:
        (tmp_path / "home").mkdir()
        (tmp_path / "codex").mkdir()
        (tmp_path / "codex" / "config.toml").write_text(CONFIG.format(url=fake.url))
        plan = f"""
name: agent
agents:
  coder:
    kind: codex
    binary: {codex}
    env:
      CODEX_HOME: "{tmp_path / "codex"}"
      FAKE_OPENAI_KEY: sk-test
      HOME: "{tmp_path / "home"}"
    permissions: {rules}
{agent}phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "make the files for {{run_id}}"{task}}}]
{extra}"""
        super().__init__(tmp_path, plan, detach)


def _outputs(fake: FakeOpenAI) -> list[str]:
    """What Codex sent back to the model of each tool call, in order (its last request holds
    the whole conversation)."""
    return [str(i.get("output")) for i in fake.conversation[-1].of_type("function_call_output")]


def test_a_prompt_runs_and_its_usage_session_and_message_are_kept(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Text("all done here", usage=Usage(1000, 50, cached_tokens=200)))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}")
    shown = run.ended()
    assert shown["status"] == "succeeded"
    task = run.task()
    usage = task["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["cached_tokens"]) == (
        1000,
        50,
        200,
    )
    assert usage["cost_usd"] == 0 and usage.get("cost_source", "") == ""  # (no price: unknown)
    # the session is Codex's thread: the one its rollout file is named after
    assert task["session_id"]
    rollouts = list((tmp_path / "codex" / "sessions").rglob(f"*{task['session_id']}.jsonl"))
    assert len(rollouts) == 1
    # the model got the task's prompt
    said = json.dumps(fake_openai.conversation[0].of_type("message"))
    assert f"make the files for {run.id}" in said
    logs = run.pg("logs", run.id, "w").stdout
    assert "  all done here" in logs


def test_a_command_the_plans_rule_allows_runs_and_its_output_goes_to_the_model(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    # (each command of the pipe named by a rule: a redirection into a file would be asked)
    fake_openai.script(Shell("echo hello-from-codex | tee ok.txt"), Text("done"))
    run = Run(tmp_path, codex_bin, fake_openai, '{allow: ["Bash(echo:*)", "Bash(tee:*)"]}')
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "ok.txt").read_text() == "hello-from-codex\n"
    assert run.asked() is None
    assert (
        len(_outputs(fake_openai)) == 1 and "Process exited with code 0" in _outputs(fake_openai)[0]
    )
    logs = run.pg("logs", run.id, "w").stdout
    assert "→ Bash: echo hello-from-codex | tee ok.txt" in logs
    assert "the plan's rule Bash(echo:*) allows it" in logs and "← exit 0" in logs


def test_a_command_the_plans_rule_denies_never_runs(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Shell("touch marker.txt"), Text("could not"))
    run = Run(
        tmp_path, codex_bin, fake_openai, '{allow: ["Bash(echo:*)"], deny: ["Bash(touch:*)"]}'
    )
    assert run.ended()["status"] == "succeeded"
    assert not (tmp_path / "marker.txt").exists()
    assert run.asked() is None
    # (Codex's protocol carries no reason for a decline: the model reads that it was rejected)
    assert "rejected by user" in _outputs(fake_openai)[0]
    logs = run.pg("logs", run.id, "w").stdout
    assert "✗ Bash: touch marker.txt (the plan's rule Bash(touch:*) denies it)" in logs


def test_a_person_allows_one_command_and_rejects_another_from_the_command_line(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Shell("touch yes.txt"), Shell("touch no.txt"), Text("done"))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}")
    first = until("the first request", run.asked)
    assert (first["tool"], first["detail"], first["task"]) == ("Bash", "touch yes.txt", "w")
    allowed = run.pg("approve", run.id, first["id"])
    assert allowed.returncode == 0, allowed.stderr
    until("the allowed command to run", (tmp_path / "yes.txt").exists)
    second = until(
        "the second request", lambda: (a := run.asked()) and a["id"] != first["id"] and a
    )
    assert second["detail"] == "touch no.txt"
    denied = run.pg("reject", run.id, second["id"], "--reason", "not that one")
    assert denied.returncode == 0, denied.stderr
    assert run.ended()["status"] == "succeeded"
    assert not (tmp_path / "no.txt").exists()
    outputs = _outputs(fake_openai)
    assert "Process exited with code 0" in outputs[0] and "rejected by user" in outputs[1]
    logs = run.pg("logs", run.id, "w").stdout
    assert "denied by" in logs and "not that one" in logs
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    votes = [(r["gate"], r["decision"]) for r in audit if r["gate"]]
    assert votes == [(first["id"], "approve"), (second["id"], "reject")]


def test_a_retry_resumes_the_same_thread(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Fail(500, "the model is down"), Text("second time lucky"))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}", task=", retries: 1, backoff: 0s")
    shown = run.ended()
    assert shown["status"] == "succeeded"
    task = run.task()
    assert task["attempts"] == 2
    # the second attempt went on with the first one's thread: the model saw the first prompt
    # again before the retry's, which says the last attempt failed
    first, second = fake_openai.conversation
    said = [json.dumps(m) for m in second.of_type("message")]
    prompt = f"make the files for {run.id}"
    assert sum(prompt in s for s in said) == 2
    assert "The last attempt did not succeed" in said[-1]
    assert (
        second.body.get("prompt_cache_key")
        == first.body.get("prompt_cache_key")
        == task["session_id"]
    )
    rollouts = list((tmp_path / "codex" / "sessions").rglob("*.jsonl"))
    assert len(rollouts) == 1 and task["session_id"] in rollouts[0].name
    logs = run.pg("logs", run.id, "w").stdout
    assert "  second time lucky" in logs


def test_a_price_gives_the_priced_cost_of_codexs_tokens(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Shell("echo hi"), Text("done"))
    fake_openai.usage = Usage(10_000, 1_000, cached_tokens=4_000)
    price = "    price: {input: 2.0, output: 10.0, cached: 0.5}\n"
    run = Run(tmp_path, codex_bin, fake_openai, '{allow: ["Bash(echo:*)"]}', agent=price)
    assert run.ended()["status"] == "succeeded"
    usage = run.task()["usage"]
    # two requests of 10k input (4k of them cached) and 1k output tokens
    assert len(fake_openai.conversation) == 2
    assert (usage["input_tokens"], usage["cached_tokens"], usage["output_tokens"]) == (
        20_000, 8_000, 2_000
    )  # fmt: skip
    # 12k at $2 + 8k cached at $0.5 + 2k out at $10 per million tokens
    assert usage["cost_source"] == "priced"
    assert abs(usage["cost_usd"] - (0.024 + 0.004 + 0.02)) < 1e-9


def test_a_provider_that_refuses_fails_the_task_with_codexs_message(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Fail(429, "slow down"))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}")
    shown = run.ended()
    assert shown["status"] == "failed"
    task = run.task()
    assert task["status"] == "failed" and task["reason"].startswith("codex: "), task["reason"]
    assert len(fake_openai.conversation) == 1  # (no retries in this CODEX_HOME)
    logs = run.pg("logs", run.id, "w").stdout
    assert "· failed: 0 requests" in logs


PRICE = "    price: {input: 1.0, output: 10.0}\n"  # (dollars a million tokens)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_command_allowed_from_the_dashboard_and_another_denied_from_the_command_line(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Shell("touch yes.txt"), Shell("touch no.txt"), Text("done"))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}", agent=PRICE, detach=False)
    with run.term() as term:
        term.wait_for(
            lambda s: "A coding agent asks to use a tool" in s and "touch yes.txt" in s,
            "the permission prompt",
        )
        term.keys("a")  # (asks to confirm: ctrl+s allows)
        term.wait_for(lambda s: "ctrl+s confirms" in s, "the confirmation")
        term.keys("C-s")
        until("the allowed command to run", (tmp_path / "yes.txt").exists)
        second = until(
            "the second request", lambda: (a := run.asked()) and a["detail"] == "touch no.txt" and a
        )
        denied = run.pg("reject", run.id, second["id"], "--reason", "not that one")
        assert denied.returncode == 0, denied.stderr
        assert run.ended()["status"] == "succeeded"
        screen = term.wait_for(lambda s: "asks to use a tool" not in s, "the prompt to close")
        term.keys("q")
        assert "EXITED=0" in term.wait_for(lambda s: "EXITED=" in s, "phasegate to exit"), screen
    assert not (tmp_path / "no.txt").exists()
    # the fake saw the allowed command's output, then the denial
    outputs = _outputs(fake_openai)
    assert "Process exited with code 0" in outputs[0] and "rejected by user" in outputs[1]
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    votes = [(r["gate"], r["decision"]) for r in audit if r["gate"]]
    assert votes == [("w-1-p1", "approve"), ("w-1-p2", "reject")] and second["id"] == "w-1-p2"
    # three requests of the fake's 100 in and 20 out tokens, at $1 and $10 a million
    usage = run.task()["usage"]
    assert len(fake_openai.conversation) == 3
    assert (usage["input_tokens"], usage["output_tokens"]) == (300, 60)
    assert usage["cost_source"] == "priced" and abs(usage["cost_usd"] - 0.0009) < 1e-9


def test_an_agents_budget_stops_the_next_task_before_it_reaches_the_model(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Text("one"), Text("two"), Text("three"))
    more = """  - id: more
    tasks:
      - {id: w2, agent: coder, prompt: "again"}
      - {id: w3, agent: coder, prompt: "and again", needs: [w2]}
"""
    # each prompt costs $0.0003 at the plan's price (the fake's 100 in, 20 out tokens)
    budget = PRICE + "    budget: {usd: 0.0005}\n"
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}", agent=budget, extra=more)
    shown = run.ended()
    tasks = {t["id"]: t for t in shown["tasks"]}
    # w2's tokens spend the budget while its turn runs (Codex counts them as they come): it is
    # stopped there, and w3 never starts
    assert (tasks["w"]["status"], tasks["w2"]["status"]) == ("succeeded", "cancelled")
    assert "the budget of agent coder is spent" in tasks["w2"]["reason"]
    assert tasks["w3"]["status"] == "blocked" and shown["status"] == "failed"
    assert len(fake_openai.conversation) == 2  # w3 never reached the model
    risks = run.risks("--all")
    budget_risks = [r["message"] for r in risks if r["key"].startswith("budget")]
    assert any("$0.0006 of $0.0005 spent: its budget is spent" in m for m in budget_risks)


def test_a_model_that_answers_late_raises_a_silent_agent_risk(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Slow(8, Text("at last")))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}", extra="risks: {silent_after: 1s}")

    def silent() -> list[dict[str, Any]]:
        return [r for r in run.risks() if r["rule"] == "silent_agent"]

    (risk,) = until("the silent agent risk", silent, seconds=30)
    assert (risk["key"], risk["subject"]) == ("silent:w", "agent coder")
    assert "task w has printed nothing for" in risk["message"]
    assert "its last line: · thread" in risk["message"]  # (the thread Codex began)
    assert run.task()["status"] == "running" and len(fake_openai.conversation) == 1
    assert run.ended()["status"] == "succeeded"
    assert "  at last" in run.pg("logs", run.id, "w").stdout


def test_a_rejected_gate_sends_its_feedback_to_the_same_thread(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Text("a first draft"), Text("a second draft"))
    gate = "gates:\n  - {id: review, after: p, on_reject: {rewind_to: p, max_attempts: 2}}\n"
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}", extra=gate)
    until("the review", lambda: run.gate_open("review") and len(fake_openai.conversation) == 1)
    thread = run.task()["session_id"]
    rejected = run.pg("reject", run.id, "review", "--reason", "use smaller steps")
    assert rejected.returncode == 0, rejected.stderr
    until(
        "the review again", lambda: len(fake_openai.conversation) == 2 and run.gate_open("review")
    )
    # the rework went on with Codex's thread: its request holds the first exchange, then the
    # reviewer's words
    first, again = fake_openai.conversation
    said = json.dumps(again.of_type("message"))
    assert first.body.get("prompt_cache_key") == again.body.get("prompt_cache_key")
    assert "a first draft" in said and "use smaller steps" in said
    assert said.index("a first draft") < said.index("use smaller steps")
    assert run.task()["session_id"] == thread == again.body.get("prompt_cache_key")
    assert run.pg("approve", run.id, "review").returncode == 0
    assert run.ended()["status"] == "succeeded"


def test_after_kill_9_of_the_engine_resume_goes_on_with_codexs_thread(
    tmp_path: Path, codex_bin: Path, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Shell("touch first.txt"), Shell("touch again.txt"), Text("picked up"))
    run = Run(tmp_path, codex_bin, fake_openai, "{ask: [Bash]}")
    asked = until("the request", run.asked)
    thread = run.task()["session_id"]
    assert thread  # (kept as soon as Codex began it)
    run.kill_engine()
    resumed = run.resume()
    try:
        # a second attempt resumes the thread; the model, told the last attempt did not
        # succeed, asks again: the dead engine's request is closed, the new one open
        again = until("the request again", lambda: (a := run.asked()) and a["attempt"] == 2 and a)
        gates = json.loads(run.pg("gates", run.id, "--json").stdout)["gates"]
        old = {g["id"]: g for g in gates}[asked["id"]]
        assert (old["status"], old["by"]) == ("denied", "engine")
        assert old["message"] == "the engine stopped before an answer"
        assert run.pg("approve", run.id, again["id"]).returncode == 0
        out, _ = resumed.communicate(timeout=60)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, out
    task = run.task()
    assert run.show()["status"] == "succeeded" and task["attempts"] == 2
    assert (tmp_path / "again.txt").exists() and not (tmp_path / "first.txt").exists()
    # the same thread: Codex recorded the in-flight call as aborted, and the model saw it
    assert task["session_id"] == thread
    first, second, last = fake_openai.conversation
    assert first.body.get("prompt_cache_key") == second.body.get("prompt_cache_key") == thread
    calls = [json.loads(c["arguments"])["cmd"] for c in second.of_type("function_call")]
    assert calls == ["touch first.txt"]
    assert "aborted" in str(second.of_type("function_call_output")[0]["output"])
    said = json.dumps(second.of_type("message"))
    assert "The last attempt did not succeed" in said
    outputs = [str(i.get("output")) for i in last.of_type("function_call_output")]
    assert "Process exited with code 0" in outputs[-1]
