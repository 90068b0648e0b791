"""Executors: where a process spec runs. `local`: process groups on this machine (posix_spawn,
pidfd, epoll); `argv`: how a task's command becomes an argv.

May import engine.plan (its `{name}` templates) and nothing else of the engine.
"""
