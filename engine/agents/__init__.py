"""Agent adapters: turn a task into a process spec for an executor, and a process's output into
events. Plain commands (`command`) are today's adapter; coding-agent CLIs spoken to in their own
protocols plug in beside it.

May import model, plan and exec."""
