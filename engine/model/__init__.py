"""The vocabulary every part of phasegate shares: events (frozen, a registry of stable type
names, upcasters), the fold (`state`: RunState and `apply`), snapshots of the fold, typed
commands, errors, durations and identity.

Imports nothing else of the engine (a store only for type hints).
"""
