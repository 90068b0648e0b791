"""The plan model (pydantic): what a plan file may say, with defaults; exported as JSON Schema."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from phasegate.engine.model.durations import ALLOWED as DURATIONS
from phasegate.engine.model.durations import parse_duration
from phasegate.engine.plan import noplugins

noplugins.install()  # (before the first model class below is built: see noplugins)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
SIZES = "use bytes or a size like 500MB, 2GiB"
_SIZE_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_size(value: object) -> int:
    """Bytes for `1048576`, `500MB`, `16MiB`, `2G`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"expected a size, got {shown(value)}; {SIZES}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a size must be zero or more, got {value}")
        return int(value)
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size; {SIZES}")
    unit = (m.group(2) or "").lower()
    binary = "i" in unit
    letter = unit.replace("i", "").replace("b", "")
    factor = 1024 ** "bkmgt".index(letter or "b") if binary else _SIZE_UNITS[letter]
    return int(float(m.group(1)) * factor)


AGENT_AND_CAPABILITY = (
    "gives both `agent` and `capability`; give one: `agent` picks the agent, "
    "`capability` lets any agent that has it run the task"
)
SECRET_SOURCE = "a secret has exactly one source: `{env: VARIABLE}` or `{file: PATH}`"
RUN_OR_PROMPT = "a task needs `run` (a command) or `prompt` (what a coding agent is asked)"
CRITERION_KINDS = ("run", "metric", "file", "no_risks", "tests")


def criterion_problem(given: list[str]) -> str | None:
    """What is wrong with a criterion that sets the keys `given`, or None (exactly one is set)."""
    if len(given) == 1:
        return None
    allowed = ", ".join(CRITERION_KINDS)
    if not given:
        return f"a criterion needs one of: {allowed}"
    return f"sets {' and '.join(given)}; a criterion has exactly one of {allowed}: split it"


def _duration(value: object) -> float:
    if isinstance(value, bool | list | dict) or value is None:
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"expected a duration, got {shown(value)}; use {DURATIONS}")
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=200)]


def _new_list() -> list[Any]:
    return []


def _new_dict() -> dict[Any, Any]:
    return {}


# The default factories above instead of the builtins `list` and `dict`: pydantic reads each
# factory's signature when it builds a model class, and a builtin's is parsed from its text
# signature (about a tenth of building these models, at every start-up of `phasegate run`).


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Checks(Model):
    """Preconditions checked before the first phase (plan level) or before a phase starts."""

    binaries: list[str] = Field(
        default_factory=_new_list, description="commands that must be on PATH"
    )
    files: list[str] = Field(default_factory=_new_list, description="paths that must exist")
    env: list[str] = Field(default_factory=_new_list, description="environment variables to be set")
    disk: Size | None = Field(None, description="free disk space needed in the workdir")
    memory: Size | None = Field(None, description="available memory needed")


class Budget(Model):
    """What coding agents may spend (as their CLIs report it): a warning risk at 80%; at 100%
    `stop` (the scope's running tasks are stopped and none of its tasks starts again), `pause`
    (the run pauses until an operator resumes it) or `ask` (the run pauses with a question:
    resuming it extends the budget by its size once more, cancelling stops)."""

    usd: float | None = Field(None, gt=0, description="dollars")
    tokens: int | None = Field(None, gt=0, description="input and output tokens")
    turns: int | None = Field(None, gt=0, description="the agents' turns (model round trips)")
    seconds: Duration | None = Field(
        None, gt=0, description="wall time of its tasks' attempts, summed (e.g. 2h)"
    )
    action: Literal["stop", "pause", "ask"] = "stop"


class Permissions(Model):
    """Which tool requests of a coding agent the engine answers itself, and which go to a
    person (a prompt routed like a gate). A rule is a tool name (`Bash`) or a tool with a
    command prefix (`Bash(git diff:*)`); deny wins over allow, allow over ask; a request no
    rule names is asked."""

    allow: list[str] = Field(default_factory=_new_list)
    ask: list[str] = Field(default_factory=_new_list)
    deny: list[str] = Field(default_factory=_new_list)
    approvers: list[str] = Field(
        default_factory=_new_list,
        description="who may answer (users or group:NAME); default: whoever may operate",
    )
    timeout: Duration = Field(600.0, description="a request nobody answers is then denied")


class Price(Model):
    """What a model's tokens cost, in USD per million tokens: the cost of an agent whose CLI
    reports tokens but no cost (Codex, ACP agents) is computed from it (`cost_source: priced`);
    without it, such an agent's cost is unknown, never guessed."""

    input: float = Field(..., ge=0, description="USD per million input tokens")
    output: float = Field(..., ge=0, description="USD per million output tokens")
    cached: float | None = Field(
        None, ge=0, description="USD per million cached input tokens (default: as input)"
    )

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for these tokens (`cached_tokens` are a part of `input_tokens`)."""
        cached = min(cached_tokens, input_tokens)
        rate = self.input if self.cached is None else self.cached
        return (
            (input_tokens - cached) * self.input + cached * rate + output_tokens * self.output
        ) / 1_000_000


_HOST = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class SshOptions(Model):
    """How to reach an agent's host over SSH (`host: user@host[:port]`): keys from the SSH
    agent or ~/.ssh unless `identity` names one; the host's key checked against `known_hosts`
    (default ~/.ssh/known_hosts): an unknown or changed key is an error, never accepted."""

    identity: str | None = Field(None, description="a private key file")
    known_hosts: str | None = Field(None, description="the known_hosts file to check keys against")
    jump: str | None = Field(None, description="a jump host, user@host[:port]")
    workdir: str | None = Field(None, description="where tasks run there (default: the home)")
    connect_timeout: Duration = Field(10.0, description="to connect, and to notice a lost link")
    keepalive: Duration = Field(5.0, description="between two keepalives on the connection")


class DaskTls(Model):
    ca: str = Field(..., description="the cluster's CA certificate file")
    cert: str = Field(..., description="this client's certificate file")
    key: str = Field(..., description="this client's private key file")


class ExecutorOptions(Model):
    """Where an agent's tasks run when not on this machine: a Dask cluster's scheduler."""

    dask: str = Field(..., description="the scheduler's address, tcp://host:8786 or tls://...")
    tls: DaskTls | None = None


class Agent(Model):
    """Runs tasks whose capability it has, `slots` at a time: a local command (`kind:
    command`), or a coding-agent CLI spoken to in its own protocol (`kind: claude`, `codex`,
    `gemini`, or `acp`: any agent that speaks the Agent Client Protocol, `binary` and `args`
    its command)."""

    kind: Literal["command", "claude", "codex", "gemini", "acp"] = "command"
    capabilities: list[str] = Field(default_factory=_new_list)
    slots: int = Field(1, ge=1, le=1024, description="concurrent tasks, default 1")
    command: str | None = Field(None, description="wrapper; {script} is the task's command")
    ready: str | None = Field(None, description="readiness probe run before the first phase")
    description: str = ""
    binary: str | None = Field(
        None, description="the CLI to run (default: the kind's on PATH; acp: required)"
    )
    model: str | None = Field(None, description="the model the CLI uses")
    args: list[str] = Field(default_factory=_new_list, description="more arguments for the CLI")
    env: dict[str, str] = Field(default_factory=_new_dict, description="environment of its tasks")
    permissions: Permissions | None = None
    price: Price | None = Field(None, description="its model's price, for a CLI reporting no cost")
    worktree: bool = Field(
        False, description="each attempt of its tasks works in its own git worktree and branch"
    )
    host: str | None = Field(
        None, description="user@host[:port]: its tasks run there, over SSH", min_length=1
    )
    ssh: SshOptions | None = None
    executor: ExecutorOptions | None = None
    budget: Budget | None = None  # what all its tasks may spend
    secrets: list[str] = Field(
        default_factory=_new_list, description="declared secrets its tasks get in their environment"
    )

    @model_validator(mode="after")
    def _one_place(self) -> Agent:
        if self.host is not None and self.executor is not None:
            raise ValueError("give `host` (over SSH) or `executor` (a Dask cluster), not both")
        if self.ssh is not None and self.host is None:
            raise ValueError("`ssh` options need `host: user@host[:port]`")
        if self.host is not None and not _HOST.match(self.host):
            raise ValueError(f"host '{self.host}' is not user@host[:port] or host[:port]")
        return self


SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SecretName = Annotated[str, Field(pattern=SECRET_NAME, max_length=200)]


class Secret(Model):
    """Where a secret's value is read when a run starts (or is resumed): never from the plan,
    never stored; the tasks and agents that name it get it in their environment."""

    env: str | None = Field(None, min_length=1, description="the starter's environment variable")
    file: str | None = Field(
        None, min_length=1, description="a file only its owner may read (~, relative paths)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError(SECRET_SOURCE)
        return self


class Resource(Model):
    capacity: int = Field(1, ge=1)
    description: str = ""


class OnFailureFallback(Model):
    fallback: Id = Field(description="a task of the same phase that runs only if this one fails")


class TaskRisks(Model):
    """A task's own thresholds, over the plan's `risks:` (and its phase's)."""

    overrun_factor: float | None = Field(None, gt=0, description="warn past estimate x this")
    silent_after: Duration | None = Field(None, description="printing nothing this long; 0: off")


class PhaseRisks(TaskRisks):
    """A phase's own thresholds (for it and its tasks), over the plan's `risks:`."""

    retry_storm: int | None = Field(None, ge=0, description="tasks needing retries; 0: off")
    failure_rate: float | None = Field(None, gt=0, le=1, description="failed share of finished")


class Results(Model):
    """Where a task's test results are, read when each attempt ends: a JUnit XML file (as
    pytest --junitxml, Maven Surefire or go-junit-report write; relative to where it ran), or a
    summary line of its output matched by a pattern with named groups `passed`, `failed`,
    `skipped`, `errors` (the last line that matches counts; as a fallback when no file is
    written, or alone)."""

    junit: str | None = Field(None, min_length=1, description="a JUnit XML file it writes")
    summary: str | None = Field(
        None,
        min_length=1,
        description="a regex with named groups passed, failed, skipped, errors for a line",
    )

    @model_validator(mode="after")
    def _some_source(self) -> Results:
        if self.junit is None and self.summary is None:
            raise ValueError("give `junit: PATH`, `summary: PATTERN`, or both")
        if self.summary is not None:
            try:
                groups = re.compile(self.summary).groupindex
            except re.error as exc:
                raise ValueError(f"summary is not a regular expression: {exc}") from None
            if not set(groups) & {"passed", "failed", "skipped", "errors"}:
                raise ValueError(
                    "summary needs a named group: (?P<passed>\\d+), failed, skipped or errors"
                )
        return self


class Task(Model):
    id: Id
    run: str = Field("", description="the command; direct exec unless it needs a shell")
    prompt: str | None = Field(None, description="what a coding agent (kind: claude) is asked")
    budget: Budget | None = None  # what its attempts may spend
    title: str = ""
    agent: str | None = None
    capability: str | None = None
    needs: list[Id] = Field(default_factory=_new_list)
    uses: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=_new_dict)
    estimate: Duration | None = None
    timeout: Duration | None = None
    retries: int = Field(0, ge=0, le=100)
    backoff: Duration = Field(1.0, description="delay before the first retry, doubled each time")
    outputs: list[str] = Field(default_factory=_new_list, description="files that must exist after")
    on_failure: Literal["fail", "continue"] | OnFailureFallback = Field(
        "fail", description="fail | continue | {fallback: TASK}: run TASK instead if this fails"
    )
    priority: int = Field(0, description="higher starts first; overrides critical-path order")
    risks: TaskRisks | None = None
    env: dict[str, str] = Field(default_factory=_new_dict)
    secrets: list[str] = Field(
        default_factory=_new_list, description="declared secrets it gets in its environment"
    )
    keep_background: bool = False
    results: Results | None = None
    worktree: bool | None = Field(
        None, description="its own git worktree and branch per attempt (default: its agent's)"
    )
    on_resume: Literal["rerun", "adopt", "ask"] = Field(
        "rerun",
        description="after the engine died: run it again (its old processes are stopped), adopt "
        "its process if it lives on (its output goes to files), or ask the operator",
    )

    @field_validator("on_failure", mode="before")
    @classmethod
    def _one_on_failure(cls, value: object) -> object:
        if value in ("fail", "continue") or isinstance(value, dict):
            return value
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"got {shown(value)}; allowed: 'fail', 'continue' or {{fallback: TASK}}")

    @model_validator(mode="after")
    def _agent_or_capability(self) -> Task:
        if self.agent and self.capability:
            raise ValueError(AGENT_AND_CAPABILITY)
        if not self.run.strip() and not (self.prompt or "").strip():
            raise ValueError(RUN_OR_PROMPT)
        return self


class Monitor(Model):
    """A command run every `every` seconds while the run goes; its exit code, or the last number
    it prints checked against `min`/`max`, raises a risk when out of bounds."""

    id: Id
    run: str = Field(min_length=1)
    every: Duration = Field(30.0, description="seconds between two checks")
    min: float | None = None
    max: float | None = None
    severity: Literal["info", "low", "medium", "high", "critical"] = "high"
    timeout: Duration = Field(10.0, description="a check that takes longer fails")

    @model_validator(mode="after")
    def _sane(self) -> Monitor:
        if self.every < 1:
            raise ValueError("`every` must be 1s or more")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`min` is above `max`")
        return self


ACTIONS = ("notify", "pause", "reduce_slots", "ask")


class Phase(Model):
    id: Id
    title: str = ""
    timebox: Duration | None = None
    checks: Checks | None = None
    tasks: list[Task] = Field(default_factory=_new_list)
    risks: PhaseRisks | None = None
    monitors: list[Monitor] = Field(
        default_factory=_new_list, description="checked only while this phase is under way"
    )
    budget: Budget | None = None  # what its tasks' coding agents may spend


class TestsCriterion(Model):
    """A gate criterion over a task's test results (its `results:`): it passes when the task's
    last attempt reported results within these bounds."""

    of: Id = Field(..., description="the task whose results count")
    max_failed: int | None = Field(0, ge=0, description="failed and errors at most (null: any)")
    min_passed: int | None = Field(None, ge=0, description="passed at least")


class Criterion(Model):
    """One exit criterion of a gate; exactly one of its keys is set."""

    run: str | None = None
    metric: dict[str, Any] | None = None
    file: str | None = None
    no_risks: Literal["info", "low", "medium", "high", "critical"] | None = None
    tests: TestsCriterion | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Criterion:
        problem = criterion_problem([k for k in CRITERION_KINDS if getattr(self, k) is not None])
        if problem:
            raise ValueError(problem)
        return self


class OnReject(Model):
    rewind_to: str | None = None
    max_attempts: int = Field(1, ge=1)


class Gate(Model):
    id: Id
    after: str
    criteria: list[Criterion] = Field(default_factory=_new_list)
    approval: Literal["manual", "auto"] = "manual"
    approvers: list[str] = Field(default_factory=_new_list)
    quorum: int = Field(1, ge=1)
    forbid_self_approval: bool = False
    timeout: Duration | None = None
    on_timeout: Literal["reject", "approve", "extend"] = "reject"
    on_reject: OnReject | None = None


class Roles(Model):
    """Who may do what on a shared run; gates name their own approvers."""

    operators: list[str] = Field(
        default_factory=_new_list,
        description="users (or group:NAME) who may pause, resume, cancel, retry, skip, change "
        "slots and priorities and add notes, besides the run's starter; others observe",
    )
    changes: list[str] = Field(
        default_factory=_new_list,
        description="users (or group:NAME) who approve an amendment of the live run (`phasegate "
        "amend`) at its change gate; default: the run's starter",
    )


class Question(Model):
    """One question of the stakeholder feedback: a 1-5 rating or a free text."""

    id: Id
    text: str = Field(min_length=1)
    kind: Literal["rating", "text"] = "text"


DEFAULT_QUESTIONS = (
    Question(id="rating", text="How well did the result meet your needs? (1-5)", kind="rating"),
    Question(id="comment", text="Anything the team should know?", kind="text"),
)


class Feedback(Model):
    """Stakeholder feedback at hand-off: who is asked, when, and what."""

    ask: list[str] = Field(
        default_factory=_new_list,
        description="users (or group:NAME) whose dashboards show the questions and who may "
        "answer; default: the run's starter and operators",
    )
    at: str = Field(
        "end", min_length=1, description="end (when the run ends) or a gate id (when it opens)"
    )
    questions: list[Question] = Field(
        default_factory=lambda: list(DEFAULT_QUESTIONS),
        description="default: a 1-5 rating and a comment",
    )


class AskCommand(Model):
    run: str = Field(min_length=1, description="a command that answers; {query} is the query")


class Research(Model):
    """A question asked at the start of the first phase; the answers are kept with the run."""

    id: Id
    query: str = Field(min_length=1)
    provider: Literal["history"] | AskCommand = Field(
        "history", description="history: full-text search of earlier runs; or {run: COMMAND}"
    )
    limit: int = Field(5, ge=1, le=100, description="answers kept")
    timeout: Duration = Field(30.0, description="a command provider's time limit")

    @field_validator("provider", mode="before")
    @classmethod
    def _one_provider(cls, value: object) -> object:
        if value == "history" or isinstance(value, dict):
            return value
        raise ValueError(f"got {value!r}; allowed: `history`, or a command as `{{run: COMMAND}}`")


class RuleFallback(Model):
    fallback: Id = Field(description="a task that stands by and runs only when the rule fires")


class RiskSettings(Model):
    """Thresholds of the risk rules; the defaults need no configuration."""

    overrun_factor: float = Field(1.0, gt=0, description="warn past estimate x this")
    silent_after: Duration = Field(120.0, description="a running task printing nothing this long")
    retry_storm: int = Field(3, ge=0, description="tasks of a phase needing retries; 0: off")
    failure_rate: float = Field(0.5, gt=0, le=1, description="failed share of finished tasks")
    cpu: float = Field(95.0, ge=0, le=100, description="machine CPU busy %; 0: off")
    memory: float = Field(90.0, ge=0, le=100, description="machine memory used %; 0: off")
    disk: float = Field(95.0, ge=0, le=100, description="workdir disk used %; 0: off")
    gate_wait: Duration = Field(1800.0, description="a gate waiting this long; 0: off")
    actions: dict[
        Literal[
            "task_overrun",
            "silent_agent",
            "phase_timebox",
            "phase_projected",
            "retry_storm",
            "failure_rate",
            "gate_wait",
            "machine_pressure",
            "monitor",
        ],
        Literal["notify", "pause", "reduce_slots", "ask"] | RuleFallback,
    ] = Field(
        default_factory=_new_dict,
        description="what a rule does when it fires: notify (default), pause (the phase), "
        "reduce_slots, ask (the operator: go on or stop) or {fallback: TASK} (run TASK)",
    )

    @field_validator("actions", mode="before")
    @classmethod
    def _known_actions(cls, value: object) -> object:
        if isinstance(value, dict):
            for rule, action in value.items():
                if not isinstance(action, dict) and action not in ACTIONS:
                    from phasegate.engine.plan.messages import shown

                    raise ValueError(
                        f"{rule}: got {shown(action)}; allowed: {', '.join(ACTIONS)} "
                        "or {fallback: TASK}"
                    )
        return value


class Plan(Model):
    """A whole plan file."""

    name: str = Field(min_length=1)
    description: str = ""
    vars: dict[str, str | int | float | bool] = Field(default_factory=_new_dict)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\n\r\t\v\f"):
            raise ValueError("a plan's name is one line, without line breaks or tabs")
        return value

    workdir: str | None = None
    agents: dict[Id, Agent] = Field(min_length=1)
    resources: dict[Id, Resource] = Field(default_factory=_new_dict)
    checks: Checks | None = None
    phases: list[Phase] = Field(min_length=1)
    gates: list[Gate] = Field(default_factory=_new_list)
    output_cap: Size = Field(16 * 1024 * 1024, description="output kept per task attempt")
    kill_grace: Duration = Field(5.0, description="TERM to KILL grace for a task's processes")
    risks: RiskSettings = Field(default_factory=lambda: RiskSettings.model_validate({}))
    research: list[Research] = Field(default_factory=_new_list)
    monitors: list[Monitor] = Field(default_factory=_new_list)
    notify: str | None = Field(
        None,
        min_length=1,
        description="a command run when a gate or a question waits for people and when the "
        "run ends; it reads the event as one JSON object on stdin",
    )
    share: str | None = Field(
        None, description="an OS group that may attach to the run (as --share GROUP)"
    )
    roles: Roles = Field(default_factory=lambda: Roles.model_validate({}))
    budget: Budget | None = None  # what the whole run's coding agents may spend
    feedback: Feedback | None = Field(
        None, description="stakeholder feedback: {ask, at, questions}; asked when the run ends"
    )
    raw_vars: list[str] = Field(
        default_factory=_new_list,
        description="vars put into shell commands as written, so their values may add shell "
        "syntax (a pipe, a glob); every other value is quoted",
    )
    absolute_outputs: bool = Field(
        False, description="allow task `outputs` outside the workdir (absolute or ../ paths)"
    )
    keep_worktrees: bool = Field(
        False, description="keep the attempts' git worktrees when the run ends (branches stay)"
    )
    secrets: dict[SecretName, Secret] = Field(
        default_factory=_new_dict,
        description="NAME: {env: VARIABLE} or {file: PATH}; read when the run starts, given only "
        "to the tasks and agents that list NAME under their `secrets:`, redacted everywhere",
    )

    _path: str = PrivateAttr("")
    _dir: str = PrivateAttr(".")
    _text: str = PrivateAttr("")  # the YAML it was read from (kept with the run, for resume)
    _warnings: list[Any] = PrivateAttr(default_factory=_new_list)  # Problems that do not stop it

    @property
    def path(self) -> str:
        return self._path

    @property
    def uses_worktrees(self) -> bool:
        """Does an agent or a task work in git worktrees (`worktree: true`)?"""
        tasks = any(t.worktree for _, t in self.tasks())
        return tasks or any(a.worktree for a in self.agents.values())

    @property
    def base_dir(self) -> str:
        """Where tasks run: `workdir` relative to the plan file's directory."""
        import os

        if self.workdir is None:
            return self._dir
        return os.path.normpath(os.path.join(self._dir, os.path.expanduser(self.workdir)))

    @property
    def text(self) -> str:
        return self._text

    @property
    def warnings(self) -> list[Any]:
        """Problems (warning) found when it was read: it runs, but should be changed."""
        return self._warnings

    def tasks(self) -> list[tuple[Phase, Task]]:
        return [(p, t) for p in self.phases for t in p.tasks]

    def names(self) -> set[str]:
        """Every id the plan gives: agents, resources, phases, tasks and gates."""
        return {
            *self.agents,
            *self.resources,
            *(p.id for p in self.phases),
            *(t.id for _, t in self.tasks()),
            *(g.id for g in self.gates),
        }


def json_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "phasegate plan"
    return schema
