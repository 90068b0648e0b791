"""A plan's agents (local commands, coding-agent CLIs, hosts over SSH, a Dask cluster), what
they may be asked and cost, its secrets and its resources."""

import re
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from phasegate.engine.model.commands import MAX_SLOTS
from phasegate.engine.plan.base import SECRET_SOURCE, Budget, Duration, Model, _doc

# a permission rule: a tool (`Bash`, `Read`), or a tool with a command or a path as its
# argument (`Bash(git diff:*)`); how the engine reads rules (engine/agents/talk.py), how they
# are given to a CLI (engine/agents/claude.py, acp_parts.py) and checked (engine/plan/check.py)
RULE = re.compile(r"^(?P<tool>[A-Za-z_][\w.-]*)(?:\((?P<arg>.*)\))?$")


def paired(text: str) -> bool:
    """Do the parentheses of `text` pair (Claude Code splits a list of rules at them)?"""
    depth = 0
    for c in text:
        depth += 1 if c == "(" else -1 if c == ")" else 0
        if depth < 0:
            return False
    return depth == 0


class Permissions(Model, frozen=True):
    """Which tool requests of a coding agent the engine answers itself, and which go to a
    person (a prompt routed like a gate). A rule is a tool name (`Bash`) or a tool with a
    command prefix (`Bash(git diff:*)`); deny wins over allow, allow over ask; a request no
    rule names is asked."""

    allow: list[str] = []
    ask: list[str] = []
    deny: list[str] = []
    approvers: Annotated[
        list[str], _doc("who may answer (users or group:NAME); default: whoever may operate")
    ] = []
    timeout: Annotated[Duration, _doc("a request nobody answers is then denied")] = 600.0


class Price(Model, frozen=True):
    """What a model's tokens cost, in USD per million tokens: the cost of an agent whose CLI
    reports tokens but no cost (Codex, ACP agents) is computed from it (`cost_source: priced`);
    without it, such an agent's cost is unknown, never guessed."""

    input: Annotated[float, Meta(ge=0, description="USD per million input tokens")]
    output: Annotated[float, Meta(ge=0, description="USD per million output tokens")]
    cached: (
        Annotated[
            float, Meta(ge=0, description="USD per million cached input tokens (default: as input)")
        ]
        | None
    ) = None

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for these tokens (`cached_tokens` are a part of `input_tokens`)."""
        cached = min(cached_tokens, input_tokens)
        rate = self.input if self.cached is None else self.cached
        return (
            (input_tokens - cached) * self.input + cached * rate + output_tokens * self.output
        ) / 1_000_000


_HOST = re.compile(
    r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$"
)
# a Dask scheduler's address: [scheme://]host:port (the schemes a remote client connects with)
_DASK = re.compile(
    r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$"
)


def _bad_port(m: re.Match[str]) -> bool:
    """Does an address name a port no connection can be made to (0, above 65535)?"""
    return m["port"] is not None and not 1 <= int(m["port"]) <= 65535


def host_problem(host: str, what: str = "host") -> str | None:
    """Why `host` is no user@host[:port] an SSH connection can be made to, or None."""
    m = _HOST.match(host)
    if m is None:
        return f"{what} '{host}' is not user@host[:port] or host[:port]"
    if _bad_port(m):
        return f"{what} '{host}': port {int(m['port'])} is out of range; use 1 to 65535"
    return None


class SshOptions(Model, frozen=True):
    """How to reach an agent's host over SSH (`host: user@host[:port]`): keys from the SSH
    agent or ~/.ssh unless `identity` names one; the host's key checked against `known_hosts`
    (default ~/.ssh/known_hosts): an unknown or changed key is an error, never accepted."""

    identity: Annotated[str | None, _doc("a private key file")] = None
    known_hosts: Annotated[str | None, _doc("the known_hosts file to check keys against")] = None
    jump: Annotated[str | None, _doc("a jump host, user@host[:port]")] = None
    workdir: Annotated[str | None, _doc("where tasks run there (default: the home)")] = None
    connect_timeout: Annotated[
        Duration,
        Meta(
            gt=0,
            description="to connect, and to notice a lost link",
            extra={"bound": "a run needs time to connect (default 10s)"},
        ),
    ] = 10.0
    keepalive: Annotated[Duration, _doc("between two keepalives on the connection")] = 5.0

    def __post_init__(self) -> None:
        if self.jump is not None and (why := host_problem(self.jump, "jump host")):
            raise ValueError(why)


def identity_problem(identity: str, workdir: str) -> str | None:
    """Why a run could not read `identity` as its private key file (read as a run reads it:
    `~` expanded, a relative path from the plan's workdir, where the engine runs), or None."""
    import os

    from phasegate.engine.plan.messages import escaped  # (here: messages imports this module)

    def tail(path: str) -> str:  # (a long path keeps its end: the file's name)
        return escaped(path if len(path) <= 100 else "…" + path[-99:])

    path = os.path.join(workdir, os.path.expanduser(identity))
    said = tail(identity) if path == identity else f"{tail(identity)} ({tail(path)})"
    if os.path.isdir(path):
        return f"{said} is a directory; give the path of a private key file"
    if not os.path.exists(path):
        return (
            f"no key file {said}; correct the path (a relative one is from the plan's workdir), "
            "or leave `identity` out to use the SSH agent's keys or those in ~/.ssh"
        )
    return None


class DaskTls(Model, frozen=True):
    ca: Annotated[str, _doc("the cluster's CA certificate file")]
    cert: Annotated[str, _doc("this client's certificate file")]
    key: Annotated[str, _doc("this client's private key file")]


class ExecutorOptions(Model, frozen=True):
    """Where an agent's tasks run when not on this machine: a Dask cluster's scheduler."""

    SAMPLE: ClassVar[dict[str, Any]] = {"dask": "tcp://_:8786"}

    dask: Annotated[str, _doc("the scheduler's address, tcp://host:8786 or tls://...")]
    tls: DaskTls | None = None

    def __post_init__(self) -> None:
        m = _DASK.match(self.dask)
        if m is None:
            raise ValueError(
                f"dask '{self.dask}' is not a scheduler's address; use tcp://host:port "
                "(or tls://, ws://, wss://, ucx://), e.g. tcp://127.0.0.1:8786"
            )
        if _bad_port(m):
            raise ValueError(
                f"dask '{self.dask}': port {int(m['port'])} is out of range; use 1 to 65535"
            )


class Agent(Model, frozen=True):
    """Runs tasks whose capability it has, `slots` at a time: a local command (`kind:
    command`), or a coding-agent CLI spoken to in its own protocol (`kind: claude`, `codex`,
    `gemini`, or `acp`: any agent that speaks the Agent Client Protocol, `binary` and `args`
    its command)."""

    kind: Literal["command", "claude", "codex", "gemini", "acp"] = "command"
    capabilities: list[str] = []
    slots: Annotated[int, Meta(ge=1, le=MAX_SLOTS, description="concurrent tasks, default 1")] = 1
    command: Annotated[str | None, _doc("wrapper; {script} is the task's command")] = None
    ready: Annotated[str | None, _doc("readiness probe run before the first phase")] = None
    description: str = ""
    binary: Annotated[
        str | None, _doc("the CLI to run (default: the kind's on PATH; acp: required)")
    ] = None
    model: Annotated[str | None, _doc("the model the CLI uses")] = None
    args: Annotated[list[str], _doc("more arguments for the CLI")] = []
    env: Annotated[dict[str, str], _doc("environment of its tasks")] = {}
    permissions: Permissions | None = None
    price: Annotated[Price | None, _doc("its model's price, for a CLI reporting no cost")] = None
    worktree: Annotated[
        bool, _doc("each attempt of its tasks works in its own git worktree and branch")
    ] = False
    host: (
        Annotated[str, Meta(min_length=1, description="user@host[:port]: its tasks run there")]
        | None
    ) = None
    ssh: SshOptions | None = None
    executor: ExecutorOptions | None = None
    budget: Budget | None = None  # what all its tasks may spend
    secrets: Annotated[list[str], _doc("declared secrets its tasks get in their environment")] = []

    def __post_init__(self) -> None:
        if self.host is not None and self.executor is not None:
            raise ValueError("give `host` (over SSH) or `executor` (a Dask cluster), not both")
        if self.ssh is not None and self.host is None:
            raise ValueError("`ssh` options need `host: user@host[:port]`")
        if self.host is not None and (why := host_problem(self.host)):
            raise ValueError(why)
        if self.kind != "command" and self.executor is not None:
            raise ValueError(
                f"a `kind: {self.kind}` agent is spoken to on its input, which a Dask cluster "
                "cannot carry: run it here or over SSH (`host`), or make it `kind: command`"
            )


SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SecretName = Annotated[
    str,
    Meta(
        pattern=SECRET_NAME,
        max_length=200,
        extra={
            "pattern": "is not a valid secret name; use letters, digits and '_', "
            "starting with a letter or '_' (ASCII letters only: a-z, A-Z)"
        },
    ),
]


class Secret(Model, frozen=True):
    """Where a secret's value is read when a run starts (or is resumed): never from the plan,
    never stored; the tasks and agents that name it get it in their environment."""

    SAMPLE: ClassVar[dict[str, Any]] = {"env": "_"}

    env: (
        Annotated[str, Meta(min_length=1, description="the starter's environment variable")] | None
    ) = None
    file: (
        Annotated[
            str,
            Meta(min_length=1, description="a file only its owner may read (~, relative paths)"),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ValueError(SECRET_SOURCE)


class Resource(Model, frozen=True):
    capacity: Annotated[int, Meta(ge=1)] = 1
    description: str = ""
