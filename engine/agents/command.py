"""Plain commands as agents: the task's `run` (with `{name}` values substituted), wrapped in the
agent's `command` template if it has one, executed directly when it has no shell syntax
(as make does), else through `sh -c`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from phasegate.engine.agents.base import Launch
from phasegate.engine.exec.argv import argv_for, wrap
from phasegate.engine.exec.base import ProcSpec
from phasegate.engine.plan.template import substitute

if TYPE_CHECKING:
    from phasegate.engine.model import events as ev


class CommandAdapter:
    reads_output = False

    def __init__(self, template: str | None, values: dict[str, str]) -> None:
        self._template = template  # the agent's `command`, with {script} for the task's
        self._values = values

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        task, template = launch.task, self._template
        command = task.run
        if "{" in command or "}" in command or template:
            values = self._values | {"task": task.id}
            command = substitute(command, values)
            template = substitute(template, values) if template else None
        argv = wrap(template, command) if template else argv_for(command)
        return ProcSpec(argv, launch.env, launch.cwd, task.keep_background), command

    def events(self, launch: Launch, stream: str, text: str) -> Sequence[ev.Event]:
        return ()
