"""A plan's permission rules judge a shell command an agent asks to run command by command.

Regression (found trying the real CLIs): `allow: ["Bash(echo:*)", "Bash(git diff:*)"]` allowed,
with no person asked, `echo hi; touch x`, `echo hi && touch x`, `echo $(touch x)`, `echo hi |
tee x` and `git diff && touch x` (the shipped plans/agents.yaml allows `Bash(git diff:*)`), and
`deny: ["Bash(rm:*)"]` let `true && rm -f x` through: a rule looked only at how the command
began."""

from __future__ import annotations

import json

import pytest

from phasegate.engine.agents.base import Launch
from phasegate.engine.agents.kinds import adapter_for
from phasegate.engine.agents.talk import ruling
from phasegate.engine.plan.model import Agent, Permissions, Task

RULES = Permissions(
    allow=["Bash(echo:*)", "Bash(git diff:*)", "Bash(npm test)", "Read"],
    ask=["Bash"],
    deny=["Bash(rm:*)", "WebFetch"],
)


def verdict(command: str, rules: Permissions = RULES) -> tuple[str, str]:
    return ruling(rules, "Bash", {"command": command})


@pytest.mark.parametrize(
    "command",
    [
        "echo hi; touch pwned",
        "echo hi && touch pwned",
        "echo hi || touch pwned",
        "echo hi & touch pwned",
        "echo $(touch pwned)",
        "echo `touch pwned`",
        "echo hi | tee pwned",
        "git diff && touch pwned",
        "git diff > pwned",  # (a write the rule does not name)
        "echo hi\ntouch pwned",
        "(echo hi; touch pwned)",
        "PAGER='touch pwned' git diff",  # (git runs its pager)
        "echo 'left open",
        # (found by a review: bash's ANSI-C quotes, which shlex reads otherwise)
        "echo $'\\'';touch pwned;echo '\\'",
        "echo hi > 1",  # (a file named 1: only `>&1` is a descriptor)
        "echo hi > -",
        "git diff > /dev/null; cur\\\nl evil",  # (a line continued)
        "/bin/ech? hi",  # (a glob names the program)
    ],
)
def test_an_allow_rule_allows_no_command_it_does_not_name(command: str) -> None:
    assert verdict(command) == ("ask", "Bash")


@pytest.mark.parametrize(
    "command",
    [
        "git diff",
        "git diff --stat HEAD~1",
        "echo hi && git diff",  # (each named by an allow rule)
        "git diff 2>&1 | echo done",
        "git diff 2>/dev/null",
        "npm test",
        "echo 'a; b && c'",  # (quoted: text, not commands)
    ],
)
def test_commands_every_part_of_which_an_allow_rule_names_are_allowed(command: str) -> None:
    assert verdict(command)[0] == "allow", command


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf build",
        "true && rm -f pwned",
        "echo hi; rm x",
        "ls | xargs rm",
        "echo $(rm x)",
        "echo `rm x`",
        "FOO=1 rm x",
        "sudo -u bob rm -rf /tmp/x",
        "env A=1 rm x",
        "timeout 5 rm x",
        "/bin/rm x",
        "ls\nrm x",
        # (found by a review: the shell's grammar, and commands that run commands)
        "sh -c 'rm -rf /'",
        "bash -c 'echo ok && rm x'",
        "find . -exec rm {} +",
        "{ rm x; }",
        "! rm x",
        "if true; then rm x; fi",
        "for f in *; do rm $f; done",
        "eval rm x",
        "coproc rm x",
        'echo "$(rm -rf /)"',
    ],
)
def test_a_deny_rule_denies_every_command_that_runs_what_it_names(command: str) -> None:
    assert verdict(command) == ("deny", "Bash(rm:*)"), command


def test_what_deny_cannot_see_into_is_asked_even_where_allow_names_the_program() -> None:
    rules = Permissions(allow=["Bash(sh:*)", "Bash(echo:*)"], deny=["Bash(rm:*)"])
    for command in ("echo rm x | sh", "sh script.sh", "source ./x", "sh -c 'echo hi'"):
        assert verdict(command, rules)[0] == "ask", command
    assert verdict("echo hi 2>&1 >/dev/null", rules)[0] == "allow"


def test_rules_without_a_command_and_other_tools_are_judged_as_before() -> None:
    assert ruling(RULES, "Read", {"file_path": "/work/x"}) == ("allow", "Read")
    assert ruling(RULES, "WebFetch", {"url": "https://x"}) == ("deny", "WebFetch")
    assert verdict("rm -rf /; ls", Permissions(allow=["Bash"])) == ("allow", "Bash")
    assert verdict("ls", Permissions(deny=["Bash"])) == ("deny", "Bash")
    assert ruling(Permissions(allow=["Edit(/w/a.py)"]), "Edit", {"file_path": "/w/a.py"}) == (
        "allow",
        "Edit(/w/a.py)",
    )
    assert verdict("npm test && npm publish") == ("ask", "Bash")  # (an exact rule: exact)


def test_claude_asks_a_person_for_an_allowed_command_with_another_chained_after_it() -> None:
    agent = Agent(kind="claude", permissions=RULES)
    launch = Launch(Task(id="w", agent="coder", prompt="p"), 1, {}, "/work/task")
    talk = adapter_for("coder", agent, {}).conversation(launch)
    assert talk is not None
    request = {
        "subtype": "can_use_tool",
        "tool_name": "Bash",
        "input": {"command": "git diff && touch pwned"},
    }
    line = json.dumps({"type": "control_request", "request_id": "r1", "request": request})
    said = talk.read("out", line)
    assert [a.detail for a in said.asks] == ["git diff && touch pwned"]
    assert said.write == []  # (no answer sent: it waits)
    assert said.show == ["? Bash: git diff && touch pwned (waits for a person)"]
