"""Gemini CLI as a plan's agent (`kind: gemini`), end to end: the real `gemini --acp` (0.61.0),
driven by the engine in the Agent Client Protocol, against the scripted fake Gemini API. A
shell call it wants to run is asked of the engine: the plan's rules answer it, or a person does
(`phasegate gates` lists it; `approve` allows it, `reject` denies it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from . import runs
from .fake_gemini import Call, FakeGemini, Slow, Status, Text, Usage
from .runs import until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # (the real CLI, seconds a test)

SETTINGS = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "security": {"auth": {"selectedType": "gemini-api-key"}},
}


def shell(command: str) -> Call:
    return Call("run_shell_command", {"command": command, "description": "a step"})


class Run(runs.Run):
    """A plan of one gemini agent `coder` (its HOME's settings pointed at the fake, priced at
    $1 in and $10 out a million tokens) and its task `w`; `agent` adds to the agent's keys,
    `extra` to the plan."""

    def __init__(
        self,
        tmp_path: Path,
        gemini: Path,
        fake: FakeGemini,
        rules: str,
        extra: str = "",
        agent: str = "",
        detach: bool = True,
    ) -> None:
        home = tmp_path / "home"
        (home / ".gemini").mkdir(parents=True)
        (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
        plan = f"""
name: agent
agents:
  coder:
    kind: gemini
    binary: {gemini}
    env:
      GOOGLE_GEMINI_BASE_URL: "{fake.url}"
      GEMINI_API_KEY: sk-test
      HOME: "{home}"
    permissions: {rules}
    price: {{input: 1.0, output: 10.0}}
{agent}phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "make the files for {{run_id}}"}}]
{extra}"""
        super().__init__(tmp_path, plan, detach)


def _responses(fake: FakeGemini) -> list[dict[str, Any]]:
    """The function responses the CLI sent back to the model, in order."""
    last = fake.conversation[-1]
    return [r.get("response", {}) for r in last.parts("functionResponse")]


def test_a_prompt_runs_and_its_session_tokens_and_words_are_kept(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(Text("All done:\nthe files are made.", usage=Usage(1000, 50)))
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}")
    assert run.ended()["status"] == "succeeded"
    task = run.task()
    assert task["session_id"]
    # the prompt reached the model; the tokens are Gemini's, the cost the plan's price
    assert "make the files for" in json.dumps(fake_gemini.conversation[0].parts("text"))
    assert (task["usage"]["input_tokens"], task["usage"]["output_tokens"]) == (1000, 50)
    assert task["usage"]["cost_source"] == "priced"
    assert abs(task["usage"]["cost_usd"] - 0.0015) < 1e-9
    logs = run.pg("logs", run.id, "w").stdout
    assert "  All done:" in logs and "  the files are made." in logs


def test_a_shell_call_allowed_by_the_plans_rule_runs(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(shell("touch ok.txt"), Text("made it"))
    run = Run(tmp_path, gemini_bin, fake_gemini, '{allow: ["Bash(touch:*)"]}')
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "ok.txt").exists()
    (response,) = _responses(fake_gemini)
    assert "output" in response and "error" not in response
    assert run.asked() is None
    logs = run.pg("logs", run.id, "w").stdout
    assert "✓ Bash: touch ok.txt (the plan's rule Bash(touch:*) allows it)" in logs
    assert "← Bash: touch ok.txt" in logs and "  made it" in logs


def test_a_shell_call_denied_by_the_plans_rule_never_runs(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    (tmp_path / "important").mkdir()
    fake_gemini.script(shell("rm -rf important"), Text("could not"))
    run = Run(tmp_path, gemini_bin, fake_gemini, '{deny: ["Bash(rm:*)"]}')
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "important").is_dir()
    (response,) = _responses(fake_gemini)
    # (the CLI is given the plan's deny rules as its policy: it refuses the call itself)
    assert "denied by policy" in response["error"]
    logs = run.pg("logs", run.id, "w").stdout
    assert "✗ Bash · Tool execution" in logs


def test_a_shell_call_is_asked_of_a_person_and_answered_from_the_command_line(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(shell("touch tool.txt"), shell("touch never.txt"), Text("done"))
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}")
    first = until("the first request", run.asked)
    assert (first["tool"], first["detail"], first["task"]) == ("Bash", "touch tool.txt", "w")
    allowed = run.pg("approve", run.id, first["id"])
    assert allowed.returncode == 0, allowed.stderr
    until("the allowed command to run", (tmp_path / "tool.txt").exists)
    second = until(
        "the second request", lambda: (a := run.asked()) and a["id"] != first["id"] and a
    )
    assert second["detail"] == "touch never.txt"
    denied = run.pg("reject", run.id, second["id"], "--reason", "not that one")
    assert denied.returncode == 0, denied.stderr
    assert run.ended()["status"] == "succeeded"
    assert not (tmp_path / "never.txt").exists()
    ran, refused = _responses(fake_gemini)
    assert "output" in ran and "canceled by the user" in refused["error"]
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    votes = [(r["gate"], r["decision"]) for r in audit if r["gate"]]
    assert votes == [(first["id"], "approve"), (second["id"], "reject")]
    logs = run.pg("logs", run.id, "w").stdout
    assert "? Bash: touch tool.txt (waits for a person)" in logs and "denied by" in logs


def test_a_rejected_gate_sends_its_feedback_to_the_agents_session(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(Text("a first draft"), Text("a second draft"))
    gate = """gates:
  - {id: review, after: p, on_reject: {rewind_to: p, max_attempts: 2}}
"""
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}", extra=gate)

    def review(count: int) -> bool:
        return run.gate_open("review") and len(fake_gemini.conversation) == count

    until("the review", lambda: review(1))
    session = run.task()["session_id"]
    assert run.pg("reject", run.id, "review", "--reason", "use smaller steps").returncode == 0
    until("the review again", lambda: review(2))
    said = json.dumps(fake_gemini.conversation[1].parts("text"))
    assert "use smaller steps" in said and "make the files for" in said
    logs = run.pg("logs", run.id, "w").stdout
    if f"· session {session} (loaded)" in logs:  # the rework went on with the session:
        assert "a first draft" in said  # the model sees the first exchange
        assert logs.count("  a first draft") == 1  # (its replay is not this attempt's words)
    else:  # Gemini CLI 0.61.0 cannot load a session in the minute it began (its file is
        # overwritten): a new session is begun instead, with the reviewer's words and the task
        assert f"could not load session {session}" in logs
        assert run.task()["session_id"] != session
    assert run.pg("approve", run.id, "review").returncode == 0
    assert run.ended()["status"] == "succeeded"


def test_a_model_api_error_fails_the_task_with_its_message(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(*[Status(400, "API key not valid. Please pass a valid API key.")] * 8)
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}")
    assert run.ended()["status"] == "failed"
    reason = run.task()["reason"]
    assert "session/prompt" in reason
    assert reason.endswith("API key not valid. Please pass a valid API key.")
    assert len(fake_gemini.conversation) == 1  # (a 400 is not retried)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_shell_call_allowed_from_the_dashboard_and_another_denied_from_the_command_line(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(shell("touch tool.txt"), shell("touch never.txt"), Text("done"))
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}", detach=False)
    with run.term() as term:
        term.wait_for(
            lambda s: "A coding agent asks to use a tool" in s and "touch tool.txt" in s,
            "the permission prompt",
        )
        term.keys("a")  # (asks to confirm: ctrl+s allows)
        term.wait_for(lambda s: "ctrl+s confirms" in s, "the confirmation")
        term.keys("C-s")
        until("the allowed command to run", (tmp_path / "tool.txt").exists)
        second = until(
            "the second request",
            lambda: (a := run.asked()) and a["detail"] == "touch never.txt" and a,
        )
        denied = run.pg("reject", run.id, second["id"], "--reason", "not that one")
        assert denied.returncode == 0, denied.stderr
        assert run.ended()["status"] == "succeeded"
        screen = term.wait_for(lambda s: "asks to use a tool" not in s, "the prompt to close")
        term.keys("q")
        assert "EXITED=0" in term.wait_for(lambda s: "EXITED=" in s, "phasegate to exit"), screen
    assert not (tmp_path / "never.txt").exists()
    # the fake saw the allowed command's output, then the denial
    ran, refused = _responses(fake_gemini)
    assert "output" in ran and "canceled by the user" in refused["error"]
    audit = json.loads(run.pg("audit", run.id, "--json").stdout)["audit"]
    votes = [(r["gate"], r["decision"]) for r in audit if r["gate"]]
    assert votes == [("w-1-p1", "approve"), ("w-1-p2", "reject")] and second["id"] == "w-1-p2"
    # three requests of the fake's 100 in and 20 out tokens, at $1 and $10 a million
    usage = run.task()["usage"]
    assert len(fake_gemini.conversation) == 3
    assert (usage["input_tokens"], usage["output_tokens"]) == (300, 60)
    assert usage["cost_source"] == "priced" and abs(usage["cost_usd"] - 0.0009) < 1e-9


def test_an_agents_budget_stops_the_next_task_before_it_reaches_the_model(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(Text("one"), Text("two"), Text("three"))
    more = """  - id: more
    tasks:
      - {id: w2, agent: coder, prompt: "again"}
      - {id: w3, agent: coder, prompt: "and again", needs: [w2]}
"""
    # each prompt costs $0.0003 at the plan's price (the fake's 100 in, 20 out tokens)
    budget = "    budget: {usd: 0.0005}\n"
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}", agent=budget, extra=more)
    shown = run.ended()
    tasks = {t["id"]: t for t in shown["tasks"]}
    assert (tasks["w"]["status"], tasks["w2"]["status"]) == ("succeeded", "succeeded")
    assert tasks["w3"]["status"] == "failed" and shown["status"] == "failed"
    assert "the budget of agent coder is spent" in tasks["w3"]["reason"]
    assert len(fake_gemini.conversation) == 2  # w3 never reached the model
    risks = run.risks("--all")
    budget_risks = [r["message"] for r in risks if r["key"].startswith("budget")]
    assert any("$0.0006 of $0.0005 spent: its budget is spent" in m for m in budget_risks)


def test_a_model_that_answers_late_raises_a_silent_agent_risk(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(Slow(8, Text("at last")))
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}", extra="risks: {silent_after: 1s}")

    def silent() -> list[dict[str, Any]]:
        # (the CLI's start-up may be silent for over 1s too: the risk raised while the model
        # is slow is the one after the session began)
        if not fake_gemini.conversation:
            return []
        risks = [r for r in run.risks() if r["rule"] == "silent_agent"]
        return [r for r in risks if "its last line" in r["message"]]

    (risk,) = until("the silent agent risk", silent, seconds=30)
    assert (risk["key"], risk["subject"]) == ("silent:w", "agent coder")
    assert "task w has printed nothing for" in risk["message"]
    assert "its last line: · session" in risk["message"]  # (the session Gemini began)
    assert run.task()["status"] == "running" and len(fake_gemini.conversation) == 1
    assert run.ended()["status"] == "succeeded"
    assert "  at last" in run.pg("logs", run.id, "w").stdout


def test_after_kill_9_of_the_engine_resume_runs_the_task_again(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(shell("touch first.txt"), shell("touch again.txt"), Text("picked up"))
    run = Run(tmp_path, gemini_bin, fake_gemini, "{ask: [Bash]}")
    asked = until("the request", run.asked)
    session = run.task()["session_id"]
    assert session
    run.kill_engine()
    resumed = run.resume()
    try:
        again = until("the request again", lambda: (a := run.asked()) and a["attempt"] == 2 and a)
        gates = json.loads(run.pg("gates", run.id, "--json").stdout)["gates"]
        old = {g["id"]: g for g in gates}[asked["id"]]
        assert (old["status"], old["by"]) == ("denied", "engine")
        assert run.pg("approve", run.id, again["id"]).returncode == 0
        out, _ = resumed.communicate(timeout=60)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, out
    task = run.task()
    assert run.show()["status"] == "succeeded" and task["attempts"] == 2
    assert (tmp_path / "again.txt").exists() and not (tmp_path / "first.txt").exists()
    # the second attempt asks Gemini to load the session, told the last attempt did not succeed
    retry = fake_gemini.conversation[1]
    said = json.dumps(retry.parts("text"))
    assert "The last attempt did not succeed" in said and "make the files for" in said
    logs = run.pg("logs", run.id, "w").stdout
    calls = [c["args"]["command"] for c in retry.parts("functionCall")]
    prompts = [t for t in retry.parts("text") if "make the files for" in json.dumps(t)]
    # the call the dead engine's request was about never ran, and Gemini CLI 0.61.0 keeps no
    # unanswered call in its session: the model does not see it again
    assert calls == []
    if f"· session {session} (loaded)" in logs:  # the same session: the first prompt, then
        assert task["session_id"] == session  # the retry's
        assert len(prompts) == 2, prompts
    else:  # Gemini CLI 0.61.0 cannot load a session in the minute it began: a new one
        assert f"could not load session {session}" in logs
        assert task["session_id"] not in ("", session) and len(prompts) == 1, prompts
    ran = fake_gemini.conversation[-1].parts("functionResponse")[-1]
    assert "output" in ran["response"] and "error" not in ran["response"]
