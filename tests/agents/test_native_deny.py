"""A plan's `deny` rules hold for every tool call of a coding agent, also for the calls its CLI
runs without asking (Claude Code's Read, `ls`, `cat`; Gemini CLI's read_file, `ls`, `echo`):
each CLI is given the rules in its own terms (Claude Code `--disallowedTools`, Gemini CLI a
policy file), so a denied call never runs and its output never reaches the model. And Claude
Code's API retries show in the transcript, one line each."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from phasegate.engine.agents.acp import GeminiAdapter
from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.claude import ClaudeAdapter
from phasegate.engine.plan.model import Agent, Permissions, Task

from . import runs
from .fake_anthropic import FakeAnthropic, Text, ToolUse
from .fake_gemini import Call, FakeGemini
from .fake_gemini import Text as GeminiText
from .test_gemini_agent import SETTINGS

SECRET = "creds-7f3a91"


def launch(env: dict[str, str] | None = None) -> Launch:
    task = Task(id="w", agent="coder", prompt="make the files")
    return Launch(task, 1, env or {}, "/work/task")


def claude_argv(rules: Permissions | None) -> list[str]:
    agent = Agent(kind="claude", permissions=rules)
    return ClaudeAdapter("coder", agent, {}).spec(launch())[0].argv


def test_claude_is_given_the_plans_deny_rules_as_its_own() -> None:
    argv = claude_argv(Permissions(deny=["Read", "Bash(git diff:*)"], allow=["Bash"]))
    assert "--disallowedTools=Read,Bash(git diff:*)" in argv
    assert not any(a.startswith("--disallowedTools") for a in claude_argv(None))
    assert not any("disallowed" in a for a in claude_argv(Permissions(allow=["Bash"])))


def test_claudes_api_retries_show_one_line_each() -> None:
    agent = Agent(kind="claude")
    talk = ClaudeAdapter("coder", agent, {}).conversation(launch())
    retry = {"type": "system", "subtype": "api_retry", "attempt": 3, "max_retries": 10}
    said = talk.read("out", json.dumps(retry | {"error_status": None, "error": "unknown"}))
    assert said.show == ["· API error: unknown, retrying (attempt 3 of 10)"]
    said = talk.read(
        "out", json.dumps(retry | {"error_status": 529, "error": "overloaded\n[b]busy[/b]"})
    )
    assert said.show == [
        "· API error: overloaded [b]busy[/b] (HTTP 529), retrying (attempt 3 of 10)"
    ]
    assert not said.failure and not said.close  # (the CLI goes on trying)


def test_geminis_policy_denies_whole_tools_and_commands() -> None:
    from phasegate.engine.agents.acp_parts import gemini_policy

    policy = gemini_policy(["Read", "Bash(echo:*)", 'Bash(git diff "a")', "run_shell_command"])
    rules = policy.split("[[rule]]")[1:]
    assert 'toolName = ["read_file", "read_many_files"]' in rules[0]
    assert 'toolName = "run_shell_command"' in rules[1] and 'commandPrefix = "echo"' in rules[1]
    assert r'commandRegex = "git diff \\\\\"a\\\\\"\""' in rules[2]
    assert "commandPrefix" not in rules[3] and "commandRegex" not in rules[3]
    assert all('decision = "deny"' in rule for rule in rules)
    agent = Agent(kind="gemini", permissions=Permissions(deny=["Bash(ls:*)"]))
    spec, shown = GeminiAdapter("coder", agent, {}).spec(launch())
    assert spec.argv[:2] == ["sh", "-c"] and spec.argv[5:] == ["gemini", "--acp"]
    assert shown.startswith("gemini (gemini): ")


def test_the_policy_wrapper_gives_gemini_its_policy_and_leaves_nothing(tmp_path: Path) -> None:
    """The wrapper as a shell runs it: the CLI gets `--policy FILE` holding the policy, its
    arguments after it, its exit status; the file is gone once the CLI ends."""
    fake = tmp_path / "gemini"
    fake.write_text('#!/bin/sh\necho "$1"; cat "$2"; shift 2; echo "$@"; exit 3\n')
    fake.chmod(0o755)
    agent = Agent(kind="gemini", binary=str(fake), permissions=Permissions(deny=["Bash"]))
    argv = GeminiAdapter("coder", agent, {}).spec(launch())[0].argv
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "--policy" and 'toolName = "run_shell_command"' in done.stdout
    assert lines[-1] == "--acp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gemini"]


@pytest.mark.e2e
@pytest.mark.slow
def test_claude_never_runs_a_denied_read_or_command_it_deems_safe(
    tmp_path: Path, claude_bin: Path, fake_anthropic: FakeAnthropic
) -> None:
    (tmp_path / "creds.txt").write_text(SECRET + "\n")
    fake_anthropic.script(
        ToolUse("Read", {"file_path": str(tmp_path / "creds.txt")}),
        ToolUse("Bash", {"command": "cat creds.txt"}),
        ToolUse("Bash", {"command": "ls"}),
        ToolUse("Bash", {"command": "pwd"}),
        Text("done"),
    )
    (tmp_path / "home").mkdir()
    (tmp_path / "tmp").mkdir()
    plan = f"""
name: agent
agents:
  coder:
    kind: claude
    binary: {claude_bin}
    env:
      ANTHROPIC_BASE_URL: "{fake_anthropic.url}"
      ANTHROPIC_API_KEY: sk-test
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
      HOME: "{tmp_path / "home"}"
      TMPDIR: "{tmp_path / "tmp"}"
    permissions: {{deny: [Read, "Bash(cat:*)", "Bash(ls)"], allow: [Bash]}}
phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "look around"}}]
"""
    run = runs.Run(tmp_path, plan)
    assert run.ended()["status"] == "succeeded"
    results = {
        b["tool_use_id"]: b for r in fake_anthropic.conversation for b in r.blocks("tool_result")
    }
    said = json.dumps(list(results.values()))
    assert SECRET not in said and "creds.txt\\n" not in said  # (neither read nor listed)
    assert [b["is_error"] for b in results.values()] == [True, True, True, False]
    assert str(tmp_path) in json.dumps(results[sorted(results)[-1]])  # (pwd: not denied)


def shell(command: str) -> Call:
    return Call("run_shell_command", {"command": command, "description": "a step"})


@pytest.mark.e2e
@pytest.mark.slow
def test_gemini_never_runs_a_denied_command_it_deems_safe(
    tmp_path: Path, gemini_bin: Path, fake_gemini: FakeGemini
) -> None:
    fake_gemini.script(
        shell("echo tok=$MYTOKEN"),
        shell("ls -la"),
        Call("read_file", {"file_path": "creds.txt"}),
        shell("pwd"),
        GeminiText("done"),
    )
    (tmp_path / "creds.txt").write_text(SECRET + "\n")
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    plan = f"""
name: agent
agents:
  coder:
    kind: gemini
    binary: {gemini_bin}
    env:
      GOOGLE_GEMINI_BASE_URL: "{fake_gemini.url}"
      GEMINI_API_KEY: sk-test
      HOME: "{home}"
      MYTOKEN: tok-5ec2e7
    permissions: {{deny: ["Bash(echo:*)", "Bash(ls:*)", Read], allow: [Bash]}}
phases:
  - id: p
    tasks: [{{id: w, agent: coder, prompt: "look around"}}]
"""
    run = runs.Run(tmp_path, plan)
    assert run.ended()["status"] == "succeeded"
    responses = [p for r in fake_gemini.conversation for p in r.parts("functionResponse")]
    said = json.dumps(responses)
    assert "tok-5ec2e7" not in said and SECRET not in said and "creds.txt" not in said
    assert str(tmp_path) in said  # (pwd: not denied, it ran)
    assert "denied by policy" in said


def test_a_rule_whose_parentheses_do_not_pair_is_warned_of_and_not_given_to_claude(
    tmp_path: Path,
) -> None:
    """Claude Code splits its list at parentheses: one unpaired rule made it drop every deny
    rule given with it (found by a review of its parser)."""
    from phasegate.engine.plan import load_plan

    rules = Permissions(deny=['Bash(echo "(":*)', "Read", "Bash(rm:*)"])
    assert "--disallowedTools=Read,Bash(rm:*)" in claude_argv(rules)
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "name: p\nagents:\n  c:\n    kind: claude\n"
        '    permissions: {deny: ["Bash(rm:*", Read]}\n'
        'phases: [{id: p, tasks: [{id: t, agent: c, prompt: "x"}]}]\n'
    )
    (warning,) = load_plan(str(plan)).warnings
    assert warning.key == "agents.c.permissions.deny[0]"
    assert warning.message.startswith("rule 'Bash(rm:*' cannot be read")


def test_the_gemini_policy_keeps_non_ascii_and_its_wrapper_names_a_missing_cli() -> None:
    """Found by a review: an exact rule with non-ASCII never matched (escaped as `\\u00e9`,
    where Gemini CLI writes `é`), and a missing binary read `sh: 1: ./x: not found`."""
    from phasegate.engine.agents.acp_parts import POLICY_SH, gemini_policy

    assert 'commandRegex = "café\\""' in gemini_policy(["Bash(café)"])
    done = subprocess.run(
        ["sh", "-c", POLICY_SH, "sh", "x", "./no-such-gemini"], capture_output=True, text=True
    )
    assert done.returncode == 127 and done.stderr == "cannot run ./no-such-gemini: not found\n"
