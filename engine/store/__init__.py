"""Storage of runs: the Store protocol, the SQLite store (the run's truth) and an in-memory twin."""

from .base import Command, OutputLine, RunRow, Store
from .memory import MemoryStore
from .sqlite import SQLiteStore, default_db_path, open_store

__all__ = [
    "Command",
    "MemoryStore",
    "OutputLine",
    "RunRow",
    "SQLiteStore",
    "Store",
    "default_db_path",
    "open_store",
]
