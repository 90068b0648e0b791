"""Where a run's files live: `<data dir>/runs/<run id>/`, beside the database, created 0700."""

from __future__ import annotations

import os
import secrets


def new_run_id() -> str:
    return secrets.token_hex(4)


def run_dir(db_path: str, run_id: str) -> str:
    path = os.path.join(os.path.dirname(os.path.abspath(db_path)), "runs", run_id)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path
