"""A scheduler address a client cannot connect to (refused by distributed's own parsing: the
plan's check lets through no such address, but a scheduler name can still fail oddly): the
task says why, and the half-made client is closed, no `coroutine 'Client._close' was never
awaited` warning left on the terminal."""

from __future__ import annotations

import asyncio
import gc
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.mark.parametrize("address", ["", "tcp://127.0.0.1:notaport"])
def test_a_failed_connect_closes_its_client_and_says_why(tmp_path: Path, address: str) -> None:
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    from phasegate.engine.exec import dask
    from phasegate.engine.exec.base import Exit, ProcSpec

    async def scenario() -> Exit:
        ex = dask.DaskExecutor(address, SimpleNamespace(executor=None))  # type: ignore[arg-type]
        ended: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        env = {"PHASEGATE_RUN_ID": "r", "PHASEGATE_TASK": "t", "PHASEGATE_ATTEMPT": "1"}
        ex.start(ProcSpec(["true"], env, str(tmp_path)), lambda *_: None, ended.set_result)
        try:
            return await asyncio.wait_for(ended, 30)
        finally:
            ex.close()

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = asyncio.run(scenario())
        gc.collect()  # (an unclosed client warns when it is collected)
    assert result.code is None
    assert result.error.startswith(f"not started: the Dask scheduler {address} could not be")
    never_awaited = [str(w.message) for w in said if "never awaited" in str(w.message)]
    assert never_awaited == []
