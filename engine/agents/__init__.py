"""Agent adapters: turn a task into a process spec for an executor (`base`), and for a coding
agent hold the conversation with that process in its CLI's own protocol (`talk`). `kinds` maps
an agent's kind to its adapter: `command` (a plain command), `claude` (Claude Code), `codex`
(Codex's app-server).

May import model, plan and exec."""
