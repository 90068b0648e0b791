"""Codex as a plan's agent (`kind: codex`), end to end: the real CLI (`codex app-server`), driven
by the engine in its JSON-RPC protocol, against the scripted fake OpenAI Responses API. Each
command and file change Codex wants is asked of the engine: the plan's rules answer it, or a
person does from the command line; the tokens are Codex's own count of the fake's figures, the
cost is the plan's price of them, the session is Codex's thread."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .fake_openai import Fail, FakeOpenAI, Shell, Text, Usage

PHASEGATE = shutil.which("phasegate", path=os.path.dirname(sys.executable)) or "phasegate"

pytestmark = pytest.mark.e2e

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


def _until(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Run:
    def __init__(
        self,
        tmp_path: Path,
        codex: Path,
        fake: FakeOpenAI,
        rules: str,
        agent: str = "",
        task: str = "",
    ) -> None:
        self.dir = tmp_path
        (tmp_path / "home").mkdir()
        (tmp_path / "codex").mkdir()
        (tmp_path / "codex" / "config.toml").write_text(CONFIG.format(url=fake.url))
        self.env = {**os.environ, "PHASEGATE_DB": str(tmp_path / "runs.db"), "NO_COLOR": "1"}
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
"""
        (tmp_path / "agent.yaml").write_text(plan)
        started = self.pg("run", "agent.yaml", "--detach")
        assert started.returncode == 0, started.stderr
        self.id = started.stdout.split()[-1]

    def pg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHASEGATE, *args], cwd=self.dir, env=self.env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    def asked(self) -> dict[str, Any] | None:
        """The open permission request, if any."""
        gates = json.loads(self.pg("gates", self.id, "--json").stdout)["gates"]
        asks = [g for g in gates if g.get("kind") == "permission" and g["status"] == "open"]
        return asks[0] if asks else None

    def show(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.pg("show", self.id, "--json").stdout)
        return data

    def ended(self) -> dict[str, Any]:
        return _until("the run to end", lambda: (s := self.show())["status"] != "running" and s)

    def task(self) -> dict[str, Any]:
        found: dict[str, Any] = {t["id"]: t for t in self.show()["tasks"]}["w"]
        return found


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
    fake_openai.script(Shell("echo hello-from-codex > ok.txt"), Text("done"))
    run = Run(tmp_path, codex_bin, fake_openai, '{allow: ["Bash(echo:*)"]}')
    assert run.ended()["status"] == "succeeded"
    assert (tmp_path / "ok.txt").read_text() == "hello-from-codex\n"
    assert run.asked() is None
    assert (
        len(_outputs(fake_openai)) == 1 and "Process exited with code 0" in _outputs(fake_openai)[0]
    )
    logs = run.pg("logs", run.id, "w").stdout
    assert "→ Bash: echo hello-from-codex > ok.txt" in logs
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
    first = _until("the first request", run.asked)
    assert (first["tool"], first["detail"], first["task"]) == ("Bash", "touch yes.txt", "w")
    allowed = run.pg("approve", run.id, first["id"])
    assert allowed.returncode == 0, allowed.stderr
    _until("the allowed command to run", (tmp_path / "yes.txt").exists)
    second = _until(
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
