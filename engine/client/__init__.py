"""What front ends use of the engine: open a store, find and read runs, send a command to the
run's engine through its socket (the engine learns from the kernel which OS user sent it) and
wait for the engine's answer (`runs`). Its modules: `runs`, `engines` (start an engine for a
run, or host one here), `plans` (load, validate, dry-run a plan) and `reports`.

The front ends (tui/) import this package and engine.model only (import-linter says so);
what the engine does behind it may move without their noticing. Each name is imported from its
module when first asked for: `phasegate validate` (`plans`) pays neither for asyncio nor for
the store, which reading and steering runs need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.model.lazy import lazy_names

if TYPE_CHECKING:
    from phasegate.engine.client.runs import ANSWER_LIMIT as ANSWER_LIMIT
    from phasegate.engine.client.runs import ANSWER_POLL as ANSWER_POLL
    from phasegate.engine.client.runs import ANSWER_TIMEOUT as ANSWER_TIMEOUT
    from phasegate.engine.client.runs import ENDED_GRACE as ENDED_GRACE
    from phasegate.engine.client.runs import FOLD_AT_MOST as FOLD_AT_MOST
    from phasegate.engine.client.runs import CommandRefused as CommandRefused
    from phasegate.engine.client.runs import NoAnswer as NoAnswer
    from phasegate.engine.client.runs import NoEngine as NoEngine
    from phasegate.engine.client.runs import RunRow as RunRow
    from phasegate.engine.client.runs import SQLiteStore as SQLiteStore
    from phasegate.engine.client.runs import TakeOverRefused as TakeOverRefused
    from phasegate.engine.client.runs import ask as ask
    from phasegate.engine.client.runs import check_database as check_database
    from phasegate.engine.client.runs import check_private as check_private
    from phasegate.engine.client.runs import check_reachable as check_reachable
    from phasegate.engine.client.runs import check_take_over as check_take_over
    from phasegate.engine.client.runs import counts_text as counts_text
    from phasegate.engine.client.runs import db_flag as db_flag
    from phasegate.engine.client.runs import default_db_path as default_db_path
    from phasegate.engine.client.runs import deliver as deliver
    from phasegate.engine.client.runs import elapsed as elapsed
    from phasegate.engine.client.runs import engine_alive as engine_alive
    from phasegate.engine.client.runs import known as known
    from phasegate.engine.client.runs import log_line as log_line
    from phasegate.engine.client.runs import new_run_id as new_run_id
    from phasegate.engine.client.runs import one_line as one_line
    from phasegate.engine.client.runs import paint as paint
    from phasegate.engine.client.runs import paused_phases as paused_phases
    from phasegate.engine.client.runs import resolve_run as resolve_run
    from phasegate.engine.client.runs import resumes as resumes
    from phasegate.engine.client.runs import run_dir as run_dir
    from phasegate.engine.client.runs import safe as safe
    from phasegate.engine.client.runs import same_process as same_process
    from phasegate.engine.client.runs import send as send
    from phasegate.engine.client.runs import share_group as share_group
    from phasegate.engine.client.runs import shown_status as shown_status
    from phasegate.engine.client.runs import stalled as stalled
    from phasegate.engine.client.runs import take_over_hint as take_over_hint
    from phasegate.engine.client.runs import taker as taker
    from phasegate.engine.client.runs import verify_chain as verify_chain

__getattr__ = lazy_names(
    dict.fromkeys(
        (
            "ANSWER_LIMIT",
            "ANSWER_POLL",
            "ANSWER_TIMEOUT",
            "CommandRefused",
            "ENDED_GRACE",
            "FOLD_AT_MOST",
            "NoAnswer",
            "NoEngine",
            "RunRow",
            "SQLiteStore",
            "TakeOverRefused",
            "ask",
            "check_database",
            "check_private",
            "check_reachable",
            "check_take_over",
            "counts_text",
            "db_flag",
            "default_db_path",
            "deliver",
            "elapsed",
            "engine_alive",
            "known",
            "log_line",
            "new_run_id",
            "one_line",
            "paint",
            "paused_phases",
            "resolve_run",
            "resumes",
            "run_dir",
            "safe",
            "same_process",
            "send",
            "share_group",
            "shown_status",
            "stalled",
            "take_over_hint",
            "taker",
            "verify_chain",
        ),
        "phasegate.engine.client.runs",
    ),
    globals(),
)
