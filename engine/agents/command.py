"""Plain commands as agents: the task's `run` (with `{name}` values substituted), wrapped in the
agent's `command` template if it has one, executed directly when it has no shell syntax
(as make does), else through `sh -c`."""

from __future__ import annotations

from phasegate.engine.agents.base import Launch
from phasegate.engine.exec.argv import command_argv
from phasegate.engine.exec.base import ProcSpec
from phasegate.engine.plan.template import shell_substitute


class CommandAdapter:
    def __init__(self, template: str | None, values: dict[str, str]) -> None:
        self._template = template  # the agent's `command`, with {script} for the task's
        self._values = values

    def spec(self, launch: Launch) -> tuple[ProcSpec, str]:
        task, template = launch.task, self._template
        values = self._values | {"task": task.id}
        if template:
            # the agent's wrapper gets the task's command as a script, its values quoted
            command = shell_substitute(task.run, values)
            argv, _ = command_argv(template, values | {"script": command})
        else:
            argv, command = command_argv(task.run, values)
        return ProcSpec(argv, launch.env, launch.cwd, task.keep_background), command

    def conversation(self, launch: Launch) -> None:
        return None
