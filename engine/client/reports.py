"""Reports for front ends: the reports of a run (or of a plan before it runs), run comparison,
the facts and success metrics `show` prints, refreshing a run's lessons, and `doctor`."""

from __future__ import annotations

from engine.durable.doctor import diagnose as diagnose
from engine.report import make as make
from engine.report.build import KINDS as KINDS
from engine.report.diff import compare as compare
from engine.report.facts import Facts as Facts
from engine.report.facts import gather as gather
from engine.report.facts import metrics as metrics
from engine.report.knowledge import learn as learn
