"""Reports for front ends: the reports of a run (or of a plan before it runs), run comparison,
the facts and success metrics `show` prints, refreshing a run's lessons, and `doctor`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phasegate.engine.report import make as make
from phasegate.engine.report.build import KINDS as KINDS
from phasegate.engine.report.diff import compare as compare
from phasegate.engine.report.facts import NOT_DECIDED as NOT_DECIDED
from phasegate.engine.report.facts import Facts as Facts
from phasegate.engine.report.facts import ended_first as ended_first
from phasegate.engine.report.facts import gather as gather
from phasegate.engine.report.facts import left_undecided as left_undecided
from phasegate.engine.report.knowledge import learn as learn
from phasegate.engine.report.measures import metrics as metrics

if TYPE_CHECKING:
    from phasegate.engine.durable.doctor import Finding


def diagnose(db_path: str) -> list[Finding]:
    """`phasegate doctor`'s findings (engine/durable/doctor.py: imported here, not by the
    commands that read runs: psutil and the doctor's checks are a tenth of their start-up)."""
    from phasegate.engine.durable.doctor import diagnose as found

    return found(db_path)
