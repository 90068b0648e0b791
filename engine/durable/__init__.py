"""Durable runs: settling the attempts a dead engine left in flight, by each task's `on_resume`
(`recovery`: rerun, adopt or skip, with what its processes left behind stopped), `doctor` (the
data directory, the database, unfinished runs), and `rundir` (what the engine keeps in the run
directory, made again when it was removed while the run went on). Waiting for an adopted process
is the executor's (engine/exec/adopt.py).

May import model, plan, store and exec.
"""
