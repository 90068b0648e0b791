"""The plan model: what a plan file may say, with defaults; exported as JSON Schema.

msgspec Structs, whose classes and validation are built in C: `engine.plan.shape` converts a
plan's data to them (durations and sizes read first, every problem found in one pass). A field
typed `Duration` or `Size` takes `90`, `1h30m` or `500MB` in the file and holds seconds or bytes.
A field's `Meta(extra=...)` may say how a problem with it is worded (`allowed`, `pattern`)."""

import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from phasegate.engine.model.durations import ALLOWED as DURATIONS
from phasegate.engine.model.durations import parse_duration

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


def read_duration(value: object) -> float:
    """Seconds for a duration as a plan writes it (`90`, `30s`, `1h30m`)."""
    if isinstance(value, bool | list | dict) or value is None:
        from phasegate.engine.plan.messages import shown  # (here: messages imports this module)

        raise ValueError(f"expected a duration, got {shown(value)}; use {DURATIONS}")
    return parse_duration(value)


# how `engine.plan.shape` reads a marked field before validating it
READERS = {"duration": read_duration, "size": parse_size}

Duration = Annotated[float, Meta(extra={"read": "duration"})]
Size = Annotated[int, Meta(extra={"read": "size"})]
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
Id = Annotated[str, Meta(pattern=ID_PATTERN, max_length=200)]
Text1 = Annotated[str, Meta(min_length=1)]
Severity = Literal["info", "low", "medium", "high", "critical"]


def _doc(text: str) -> Meta:
    return Meta(description=text)


M = TypeVar("M", bound="Model")


class Model(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A part of a plan: unknown keys are refused, and it never changes once read."""

    # a value that converts, for `engine.plan.shape` to put in place of a wrong one so that
    # the rest of the plan is still checked (only where the required keys alone would not do)
    SAMPLE: ClassVar[dict[str, Any]] = {}

    def dump(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Its fields as plain data (its parts as mappings), every default included."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        for name in exclude:
            out.pop(name, None)
        return out

    def replace(self: M, **changes: Any) -> M:
        """A copy with these fields changed (as `Event.replace`)."""
        return msgspec.structs.replace(self, **changes)


class Checks(Model, frozen=True):
    """Preconditions checked before the first phase (plan level) or before a phase starts."""

    binaries: Annotated[list[str], _doc("commands that must be on PATH")] = []
    files: Annotated[list[str], _doc("paths that must exist")] = []
    env: Annotated[list[str], _doc("environment variables to be set")] = []
    disk: Annotated[Size | None, _doc("free disk space needed in the workdir")] = None
    memory: Annotated[Size | None, _doc("available memory needed")] = None


class Budget(Model, frozen=True):
    """What coding agents may spend (as their CLIs report it): a warning risk at 80%; at 100%
    `stop` (the scope's running tasks are stopped and none of its tasks starts again), `pause`
    (the run pauses until an operator resumes it) or `ask` (the run pauses with a question:
    resuming it extends the budget by its size once more, cancelling stops)."""

    usd: Annotated[float, Meta(gt=0, description="dollars")] | None = None
    tokens: Annotated[int, Meta(gt=0, description="input and output tokens")] | None = None
    turns: (
        Annotated[int, Meta(gt=0, description="the agents' turns (model round trips)")] | None
    ) = None
    seconds: (
        Annotated[Duration, Meta(gt=0, description="wall time of its tasks' attempts, summed")]
        | None
    ) = None
    action: Literal["stop", "pause", "ask"] = "stop"


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


_HOST = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class SshOptions(Model, frozen=True):
    """How to reach an agent's host over SSH (`host: user@host[:port]`): keys from the SSH
    agent or ~/.ssh unless `identity` names one; the host's key checked against `known_hosts`
    (default ~/.ssh/known_hosts): an unknown or changed key is an error, never accepted."""

    identity: Annotated[str | None, _doc("a private key file")] = None
    known_hosts: Annotated[str | None, _doc("the known_hosts file to check keys against")] = None
    jump: Annotated[str | None, _doc("a jump host, user@host[:port]")] = None
    workdir: Annotated[str | None, _doc("where tasks run there (default: the home)")] = None
    connect_timeout: Annotated[Duration, _doc("to connect, and to notice a lost link")] = 10.0
    keepalive: Annotated[Duration, _doc("between two keepalives on the connection")] = 5.0


class DaskTls(Model, frozen=True):
    ca: Annotated[str, _doc("the cluster's CA certificate file")]
    cert: Annotated[str, _doc("this client's certificate file")]
    key: Annotated[str, _doc("this client's private key file")]


class ExecutorOptions(Model, frozen=True):
    """Where an agent's tasks run when not on this machine: a Dask cluster's scheduler."""

    dask: Annotated[str, _doc("the scheduler's address, tcp://host:8786 or tls://...")]
    tls: DaskTls | None = None


class Agent(Model, frozen=True):
    """Runs tasks whose capability it has, `slots` at a time: a local command (`kind:
    command`), or a coding-agent CLI spoken to in its own protocol (`kind: claude`, `codex`,
    `gemini`, or `acp`: any agent that speaks the Agent Client Protocol, `binary` and `args`
    its command)."""

    kind: Literal["command", "claude", "codex", "gemini", "acp"] = "command"
    capabilities: list[str] = []
    slots: Annotated[int, Meta(ge=1, le=1024, description="concurrent tasks, default 1")] = 1
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
        if self.host is not None and not _HOST.match(self.host):
            raise ValueError(f"host '{self.host}' is not user@host[:port] or host[:port]")


SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SecretName = Annotated[
    str,
    Meta(
        pattern=SECRET_NAME,
        max_length=200,
        extra={
            "pattern": "is not a valid secret name; use letters, digits and '_', "
            "starting with a letter or '_'"
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


class OnFailureFallback(Model, frozen=True):
    fallback: Annotated[Id, _doc("a task of the same phase that runs only if this one fails")]


class TaskRisks(Model, frozen=True):
    """A task's own thresholds, over the plan's `risks:` (and its phase's)."""

    overrun_factor: Annotated[float, Meta(gt=0, description="warn past estimate x this")] | None = (
        None
    )
    silent_after: Annotated[Duration | None, _doc("printing nothing this long; 0: off")] = None


class PhaseRisks(TaskRisks, frozen=True):
    """A phase's own thresholds (for it and its tasks), over the plan's `risks:`."""

    retry_storm: Annotated[int, Meta(ge=0, description="tasks needing retries; 0: off")] | None = (
        None
    )
    failure_rate: (
        Annotated[float, Meta(gt=0, le=1, description="failed share of finished")] | None
    ) = None


class Results(Model, frozen=True):
    """Where a task's test results are, read when each attempt ends: a JUnit XML file (as
    pytest --junitxml, Maven Surefire or go-junit-report write; relative to where it ran), or a
    summary line of its output matched by a pattern with named groups `passed`, `failed`,
    `skipped`, `errors` (the last line that matches counts; as a fallback when no file is
    written, or alone)."""

    SAMPLE: ClassVar[dict[str, Any]] = {"junit": "_"}

    junit: Annotated[str, Meta(min_length=1, description="a JUnit XML file it writes")] | None = (
        None
    )
    summary: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="a regex with named groups passed, failed, skipped, errors for a line",
            ),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
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


class Task(Model, frozen=True):
    SAMPLE: ClassVar[dict[str, Any]] = {"id": "_", "run": "_"}

    id: Id
    run: Annotated[str, _doc("the command; direct exec unless it needs a shell")] = ""
    prompt: Annotated[str | None, _doc("what a coding agent (kind: claude) is asked")] = None
    budget: Budget | None = None  # what its attempts may spend
    title: str = ""
    agent: str | None = None
    capability: str | None = None
    needs: list[Id] = []
    uses: dict[str, Annotated[int, Meta(ge=0)]] = {}
    estimate: Duration | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Meta(ge=0, le=100)] = 0
    backoff: Annotated[Duration, _doc("delay before the first retry, doubled each time")] = 1.0
    outputs: Annotated[list[str], _doc("files that must exist after")] = []
    on_failure: Annotated[
        Literal["fail", "continue"] | OnFailureFallback,
        Meta(
            description="fail | continue | {fallback: TASK}: run TASK instead if this fails",
            extra={"allowed": "'fail', 'continue' or {fallback: TASK}"},
        ),
    ] = "fail"
    priority: Annotated[int, _doc("higher starts first; overrides critical-path order")] = 0
    risks: TaskRisks | None = None
    env: dict[str, str] = {}
    secrets: Annotated[list[str], _doc("declared secrets it gets in its environment")] = []
    keep_background: bool = False
    results: Results | None = None
    worktree: Annotated[
        bool | None, _doc("its own git worktree and branch per attempt (default: its agent's)")
    ] = None
    on_resume: Annotated[
        Literal["rerun", "adopt", "ask"],
        _doc(
            "after the engine died: run it again (its old processes are stopped), adopt "
            "its process if it lives on (its output goes to files), or ask the operator"
        ),
    ] = "rerun"

    def __post_init__(self) -> None:
        if self.agent and self.capability:
            raise ValueError(AGENT_AND_CAPABILITY)
        if not self.run.strip() and not (self.prompt or "").strip():
            raise ValueError(RUN_OR_PROMPT)


class Monitor(Model, frozen=True):
    """A command run every `every` seconds while the run goes; its exit code, or the last number
    it prints checked against `min`/`max`, raises a risk when out of bounds."""

    SAMPLE: ClassVar[dict[str, Any]] = {"id": "_", "run": "_"}

    id: Id
    run: Text1
    every: Annotated[Duration, _doc("seconds between two checks")] = 30.0
    min: float | None = None
    max: float | None = None
    severity: Severity = "high"
    timeout: Annotated[Duration, _doc("a check that takes longer fails")] = 10.0

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("`every` must be 1s or more")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`min` is above `max`")


ACTIONS = ("notify", "pause", "reduce_slots", "ask")


class Phase(Model, frozen=True):
    id: Id
    title: str = ""
    timebox: Duration | None = None
    checks: Checks | None = None
    tasks: list[Task] = []
    risks: PhaseRisks | None = None
    monitors: Annotated[list[Monitor], _doc("checked only while this phase is under way")] = []
    budget: Budget | None = None  # what its tasks' coding agents may spend


class TestsCriterion(Model, frozen=True):
    """A gate criterion over a task's test results (its `results:`): it passes when the task's
    last attempt reported results within these bounds."""

    of: Annotated[Id, _doc("the task whose results count")]
    max_failed: (
        Annotated[int, Meta(ge=0, description="failed and errors at most (null: any)")] | None
    ) = 0
    min_passed: Annotated[int, Meta(ge=0, description="passed at least")] | None = None


class Criterion(Model, frozen=True):
    """One exit criterion of a gate; exactly one of its keys is set."""

    SAMPLE: ClassVar[dict[str, Any]] = {"run": "_"}

    run: str | None = None
    metric: dict[str, Any] | None = None
    file: str | None = None
    no_risks: Severity | None = None
    tests: TestsCriterion | None = None

    def __post_init__(self) -> None:
        problem = criterion_problem([k for k in CRITERION_KINDS if getattr(self, k) is not None])
        if problem:
            raise ValueError(problem)


class OnReject(Model, frozen=True):
    rewind_to: str | None = None
    max_attempts: Annotated[int, Meta(ge=1)] = 1


class Gate(Model, frozen=True):
    id: Id
    after: str
    criteria: list[Criterion] = []
    approval: Literal["manual", "auto"] = "manual"
    approvers: list[str] = []
    quorum: Annotated[int, Meta(ge=1)] = 1
    forbid_self_approval: bool = False
    timeout: Duration | None = None
    on_timeout: Literal["reject", "approve", "extend"] = "reject"
    on_reject: OnReject | None = None


class Roles(Model, frozen=True):
    """Who may do what on a shared run; gates name their own approvers."""

    operators: Annotated[
        list[str],
        _doc(
            "users (or group:NAME) who may pause, resume, cancel, retry, skip, change "
            "slots and priorities and add notes, besides the run's starter; others observe"
        ),
    ] = []
    changes: Annotated[
        list[str],
        _doc(
            "users (or group:NAME) who approve an amendment of the live run (`phasegate "
            "amend`) at its change gate; default: the run's starter"
        ),
    ] = []


class Question(Model, frozen=True):
    """One question of the stakeholder feedback: a 1-5 rating or a free text."""

    id: Id
    text: Text1
    kind: Literal["rating", "text"] = "text"


DEFAULT_QUESTIONS = (
    Question(id="rating", text="How well did the result meet your needs? (1-5)", kind="rating"),
    Question(id="comment", text="Anything the team should know?", kind="text"),
)


def _default_questions() -> list[Question]:
    return list(DEFAULT_QUESTIONS)


class Feedback(Model, frozen=True):
    """Stakeholder feedback at hand-off: who is asked, when, and what."""

    ask: Annotated[
        list[str],
        _doc(
            "users (or group:NAME) whose dashboards show the questions and who may "
            "answer; default: the run's starter and operators"
        ),
    ] = []
    at: Annotated[
        str,
        Meta(min_length=1, description="end (when the run ends) or a gate id (when it opens)"),
    ] = "end"
    questions: Annotated[list[Question], _doc("default: a 1-5 rating and a comment")] = field(
        default_factory=_default_questions
    )


class AskCommand(Model, frozen=True):
    run: Annotated[
        str, Meta(min_length=1, description="a command that answers; {query} is the query")
    ]


class Research(Model, frozen=True):
    """A question asked at the start of the first phase; the answers are kept with the run."""

    id: Id
    query: Text1
    provider: Annotated[
        Literal["history"] | AskCommand,
        Meta(
            description="history: full-text search of earlier runs; or {run: COMMAND}",
            extra={"allowed": "`history`, or a command as `{run: COMMAND}`"},
        ),
    ] = "history"
    limit: Annotated[int, Meta(ge=1, le=100, description="answers kept")] = 5
    timeout: Annotated[Duration, _doc("a command provider's time limit")] = 30.0


class RuleFallback(Model, frozen=True):
    fallback: Annotated[Id, _doc("a task that stands by and runs only when the rule fires")]


Rule = Literal[
    "task_overrun",
    "silent_agent",
    "phase_timebox",
    "phase_projected",
    "retry_storm",
    "failure_rate",
    "gate_wait",
    "machine_pressure",
    "monitor",
]
Action = Annotated[
    Literal["notify", "pause", "reduce_slots", "ask"] | RuleFallback,
    Meta(extra={"allowed": f"{', '.join(ACTIONS)} or {{fallback: TASK}}"}),
]


class RiskSettings(Model, frozen=True):
    """Thresholds of the risk rules; the defaults need no configuration."""

    overrun_factor: Annotated[float, Meta(gt=0, description="warn past estimate x this")] = 1.0
    silent_after: Annotated[Duration, _doc("a running task printing nothing this long")] = 120.0
    retry_storm: Annotated[
        int, Meta(ge=0, description="tasks of a phase needing retries; 0: off")
    ] = 3
    failure_rate: Annotated[
        float, Meta(gt=0, le=1, description="failed share of finished tasks")
    ] = 0.5
    cpu: Annotated[float, Meta(ge=0, le=100, description="machine CPU busy %; 0: off")] = 95.0
    memory: Annotated[float, Meta(ge=0, le=100, description="machine memory used %; 0: off")] = 90.0
    disk: Annotated[float, Meta(ge=0, le=100, description="workdir disk used %; 0: off")] = 95.0
    gate_wait: Annotated[Duration, _doc("a gate waiting this long; 0: off")] = 1800.0
    actions: Annotated[
        dict[Rule, Action],
        _doc(
            "what a rule does when it fires: notify (default), pause (the phase), "
            "reduce_slots, ask (the operator: go on or stop) or {fallback: TASK} (run TASK)"
        ),
    ] = {}


class Plan(Model, frozen=True, kw_only=True, dict=True):
    """A whole plan file."""

    name: Annotated[
        str,
        Meta(
            min_length=1,
            pattern=r"^[^\n\r\t\v\f]*$",
            extra={"pattern": "a plan's name is one line, without line breaks or tabs"},
        ),
    ]
    description: str = ""
    vars: dict[str, str | int | float | bool] = {}
    workdir: str | None = None
    agents: Annotated[dict[Id, Agent], Meta(min_length=1)]
    resources: dict[Id, Resource] = {}
    checks: Checks | None = None
    phases: Annotated[list[Phase], Meta(min_length=1)]
    gates: list[Gate] = []
    output_cap: Annotated[Size, _doc("output kept per task attempt")] = 16 * 1024 * 1024
    kill_grace: Annotated[Duration, _doc("TERM to KILL grace for a task's processes")] = 5.0
    risks: RiskSettings = field(default_factory=RiskSettings)
    research: list[Research] = []
    monitors: list[Monitor] = []
    notify: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="a command run when a gate or a question waits for people and when "
                "the run ends; it reads the event as one JSON object on stdin",
            ),
        ]
        | None
    ) = None
    share: Annotated[
        str | None, _doc("an OS group that may attach to the run (as --share GROUP)")
    ] = None
    roles: Roles = field(default_factory=Roles)
    budget: Budget | None = None  # what the whole run's coding agents may spend
    feedback: Annotated[
        Feedback | None,
        _doc("stakeholder feedback: {ask, at, questions}; asked when the run ends"),
    ] = None
    raw_vars: Annotated[
        list[str],
        _doc(
            "vars put into shell commands as written, so their values may add shell "
            "syntax (a pipe, a glob); every other value is quoted"
        ),
    ] = []
    absolute_outputs: Annotated[
        bool, _doc("allow task `outputs` outside the workdir (absolute or ../ paths)")
    ] = False
    keep_worktrees: Annotated[
        bool, _doc("keep the attempts' git worktrees when the run ends (branches stay)")
    ] = False
    secrets: Annotated[
        dict[SecretName, Secret],
        _doc(
            "NAME: {env: VARIABLE} or {file: PATH}; read when the run starts, given only "
            "to the tasks and agents that list NAME under their `secrets:`, redacted everywhere"
        ),
    ] = {}

    # Where it was read from, kept beside the fields (never keys of a plan file): see `place`.
    def place(
        self,
        path: str | None = None,
        base_dir: str | None = None,
        text: str | None = None,
        warnings: list[Any] | None = None,
    ) -> None:
        """Note the file it was read from, its directory, its YAML (kept with the run, for
        resume) and the problems that do not stop it."""
        for key, value in (
            ("path", path),
            ("dir", base_dir),
            ("text", text),
            ("warnings", warnings),
        ):
            if value is not None:
                self.__dict__[key] = value

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with where it was read from (a launcher hands it to the engine process)."""
        return (_placed, (self._made(), dict(self.__dict__)))

    def __copy__(self) -> "Plan":
        return _placed(self._made(), dict(self.__dict__))

    def _made(self) -> tuple[Any, ...]:
        made = super().__reduce__()
        assert isinstance(made, tuple)
        return made

    @property
    def path(self) -> str:
        return str(self.__dict__.get("path", ""))

    @property
    def uses_worktrees(self) -> bool:
        """Does an agent or a task work in git worktrees (`worktree: true`)?"""
        tasks = any(t.worktree for _, t in self.tasks())
        return tasks or any(a.worktree for a in self.agents.values())

    @property
    def base_dir(self) -> str:
        """Where tasks run: `workdir` relative to the plan file's directory."""
        import os

        here = str(self.__dict__.get("dir", "."))
        if self.workdir is None:
            return here
        return os.path.normpath(os.path.join(here, os.path.expanduser(self.workdir)))

    @property
    def text(self) -> str:
        return str(self.__dict__.get("text", ""))

    @property
    def warnings(self) -> list[Any]:
        """Problems (warning) found when it was read: it runs, but should be changed."""
        return self.__dict__.setdefault("warnings", [])  # type: ignore[no-any-return]

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


def _placed(made: tuple[Any, ...], where: dict[str, Any]) -> "Plan":
    plan: Plan = made[0](*made[1])
    plan.__dict__.update(where)
    return plan


def json_schema() -> dict[str, Any]:
    found: dict[str, Any] = msgspec.json.schema(Plan)
    defs = found.get("$defs", {})
    schema: dict[str, Any] = {**defs.pop("Plan", {}), "$defs": defs}
    _written_as_text(schema, defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "phasegate plan"
    return schema


def _written_as_text(schema: dict[str, Any], defs: dict[str, Any]) -> None:
    """Durations and sizes may be written as text too (`1h30m`, `500MB`): say so."""
    from phasegate.engine.plan.shape import extra, fields, strip

    todo: list[type[Model]] = [Model]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        props = (schema if cls is Plan else defs.get(cls.__name__, {})).get("properties", {})
        for name, tp in fields(cls).items() if cls is not Model else ():
            if name in props and extra(strip(tp, optional=True)[1], "read"):
                for option in props[name].get("anyOf", [props[name]]):
                    if option.get("type") in ("number", "integer"):
                        option["type"] = [option["type"], "string"]
