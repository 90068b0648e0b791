"""A plan's work: tasks, the phases that hold them, their monitors, and the gates after phases
with their criteria."""

import re
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from phasegate.engine.model.commands import MAX_PRIORITY
from phasegate.engine.plan.base import (
    AGENT_AND_CAPABILITY,
    CRITERION_KINDS,
    RUN_OR_PROMPT,
    Budget,
    Checks,
    Duration,
    Id,
    Model,
    Severity,
    Text1,
    _doc,
    criterion_problem,
)


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
    priority: Annotated[
        int,
        Meta(
            ge=-MAX_PRIORITY,
            le=MAX_PRIORITY,
            description="higher starts first; overrides critical-path order",
        ),
    ] = 0
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


class Phase(Model, frozen=True):
    id: Id
    title: str = ""
    timebox: (
        Annotated[
            Duration,
            Meta(
                gt=0,
                description="the phase's time limit: a risk is raised when it is passed or "
                "projected to be; no key (or null): no limit",
                extra={"bound": "leave `timebox` out (or null) for a phase with no time limit"},
            ),
        ]
        | None
    ) = None
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


class MetricCriterion(Model, frozen=True):
    """A gate criterion over a number: it passes when `run` exits 0 and the last number it
    prints is within `min`/`max` (either may be left out)."""

    run: Annotated[Text1, _doc("the command; the last number it prints counts")]
    min: Annotated[float | None, _doc("the number at least")] = None
    max: Annotated[float | None, _doc("the number at most")] = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`min` is above `max`")


class Criterion(Model, frozen=True):
    """One exit criterion of a gate; exactly one of its keys is set."""

    SAMPLE: ClassVar[dict[str, Any]] = {"run": "_"}

    run: str | None = None
    metric: MetricCriterion | None = None
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
