"""The plan model: what a plan file may say, with defaults; exported as JSON Schema.

msgspec Structs, whose classes and validation are built in C: `engine.plan.shape` converts a
plan's data to them (durations and sizes read first, every problem found in one pass). The
parts are in their own modules (`base`: the Model base, durations, sizes, ids, checks and
budgets; `agents`: agents, secrets, resources; `work`: tasks, phases, monitors, gates;
`oversight`: roles, feedback, research, risk settings) and are all named here. A field's
`Meta(extra=...)` may say how a problem with it is worded (`allowed`, `pattern`)."""

from typing import Annotated, Any

import msgspec
from msgspec import Meta, field

from phasegate.engine.plan.agents import (
    SECRET_NAME,
    Agent,
    DaskTls,
    ExecutorOptions,
    Permissions,
    Price,
    Resource,
    Secret,
    SecretName,
    SshOptions,
)
from phasegate.engine.plan.base import (
    AGENT_AND_CAPABILITY,
    CRITERION_KINDS,
    ID_PATTERN,
    READERS,
    RUN_OR_PROMPT,
    SECRET_SOURCE,
    SIZES,
    Budget,
    Checks,
    Duration,
    Id,
    Model,
    Severity,
    Size,
    Text1,
    _doc,
    criterion_problem,
    parse_size,
    read_duration,
)
from phasegate.engine.plan.oversight import (
    ACTIONS,
    DEFAULT_QUESTIONS,
    Action,
    AskCommand,
    Feedback,
    Question,
    Research,
    RiskSettings,
    Roles,
    Rule,
    RuleFallback,
)
from phasegate.engine.plan.work import (
    Criterion,
    Gate,
    Monitor,
    OnFailureFallback,
    OnReject,
    Phase,
    PhaseRisks,
    Results,
    Task,
    TaskRisks,
    TestsCriterion,
)

__all__ = [
    "ACTIONS",
    "AGENT_AND_CAPABILITY",
    "CRITERION_KINDS",
    "DEFAULT_QUESTIONS",
    "ID_PATTERN",
    "READERS",
    "RUN_OR_PROMPT",
    "SECRET_NAME",
    "SECRET_SOURCE",
    "SIZES",
    "Action",
    "Agent",
    "AskCommand",
    "Budget",
    "Checks",
    "Criterion",
    "DaskTls",
    "Duration",
    "ExecutorOptions",
    "Feedback",
    "Gate",
    "Id",
    "Model",
    "Monitor",
    "OnFailureFallback",
    "OnReject",
    "Permissions",
    "Phase",
    "PhaseRisks",
    "Plan",
    "Price",
    "Question",
    "Research",
    "Resource",
    "Results",
    "RiskSettings",
    "Roles",
    "Rule",
    "RuleFallback",
    "Secret",
    "SecretName",
    "Severity",
    "Size",
    "SshOptions",
    "Task",
    "TaskRisks",
    "TestsCriterion",
    "Text1",
    "criterion_problem",
    "json_schema",
    "parse_size",
    "read_duration",
]


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
    def plan_dir(self) -> str:
        """The plan file's directory (a relative `workdir` is read from there)."""
        return str(self.__dict__.get("dir", "."))

    @property
    def base_dir(self) -> str:
        """Where tasks run: `workdir` relative to the plan file's directory."""
        import os

        here = self.plan_dir
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
