"""Durable runs: settling the attempts a dead engine left in flight (`recovery`), following the
output files of an attempt that outlives its engine (`adopt`), and `doctor`.

May import model, plan, store and exec.
"""
