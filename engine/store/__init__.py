"""Storage of runs: the Store protocol, the SQLite store (the run's truth), an in-memory twin,
numbered migrations, the batching sink the engine writes through, and the data directory's paths.

May import phasegate.engine.model only."""

from phasegate.engine.store.base import OutputLine, RunRow, Store
from phasegate.engine.store.memory import MemoryStore
from phasegate.engine.store.opening import default_db_path
from phasegate.engine.store.sqlite import SQLiteStore, open_store

__all__ = [
    "MemoryStore",
    "OutputLine",
    "RunRow",
    "SQLiteStore",
    "Store",
    "default_db_path",
    "open_store",
]
