"""Who oversees a plan's run and how: roles, stakeholder feedback, research asked at the start,
and the thresholds and actions of the risk rules."""

from typing import Annotated, Literal

from msgspec import Meta, field

from phasegate.engine.plan.base import Duration, Id, Model, Text1, _doc

ACTIONS = ("notify", "pause", "reduce_slots", "ask")


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
        Meta(
            description="what a rule does when it fires: notify (default), pause (the phase), "
            "reduce_slots, ask (the operator: go on or stop) or {fallback: TASK} (run TASK)",
            extra={"example": "{task_overrun: pause, silent_agent: {fallback: TASK}}"},
        ),
    ] = {}
