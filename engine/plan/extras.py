"""Plans that need an optional extra: an agent on a Dask cluster (`executor: {dask: ...}`) needs
distributed, installed with `pip install 'phasegate[dask]'`. Found without importing it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from phasegate.engine.plan.flaws import Flaw
from phasegate.engine.plan.flaws import mapping as _mapping


def extra_flaws(data: dict[str, Any]) -> Iterator[Flaw]:
    """An agent whose executor needs a library that is not installed."""
    for name, agent in _mapping(data.get("agents")).items():
        if not isinstance(agent, dict):
            continue
        executor = agent.get("executor")
        if isinstance(executor, dict) and "dask" in executor and not _installed("distributed"):
            yield Flaw(
                ("agents", name, "executor"),
                True,
                "a Dask executor needs distributed, which is not installed: "
                "pip install 'phasegate[dask]'",
            )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
