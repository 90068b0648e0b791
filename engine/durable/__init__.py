"""Durable runs: settling the attempts a dead engine left in flight, by each task's `on_resume`
(`recovery`: rerun, adopt or skip, with what its processes left behind stopped), and `doctor`
(the data directory, the database, unfinished runs). Waiting for an adopted process is the
executor's (engine/exec/adopt.py).

May import model, plan, store and exec.
"""
