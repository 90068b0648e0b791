"""A Dask scheduler nobody listens on: the task did not start (nothing was handed to Dask), so it
fails into its retry policy saying the scheduler could not be reached, never as a lost attempt
(a worker that died under it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import free_port, run_pg
from .test_dask_executor import _events, _show, _tasks

pytestmark = pytest.mark.xdist_group("dask-cluster")


def test_a_task_whose_scheduler_cannot_be_reached_is_not_started_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    from phasegate.engine.exec import dask
    from phasegate.engine.exec.base import Exit, ProcSpec

    monkeypatch.setattr(dask, "CONNECT_TIMEOUT", 0.5)  # (nobody answers: it gives up then)
    address = f"tcp://127.0.0.1:{free_port()}"

    async def scenario() -> tuple[Exit, list[str], dask.DaskExecutor]:
        ex = dask.DaskExecutor(address, SimpleNamespace(executor=None))  # type: ignore[arg-type]
        ended: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        started: list[str] = []
        env = {"PHASEGATE_RUN_ID": "r", "PHASEGATE_TASK": "t", "PHASEGATE_ATTEMPT": "1"}
        spec = ProcSpec(["sh", "-c", "echo ran >> ran.log"], env, str(tmp_path))
        handle = ex.start(spec, lambda *_: None, ended.set_result)
        handle.when_started(lambda: started.append("t"))
        try:
            return await asyncio.wait_for(ended, 30), started, ex
        finally:
            ex.close()

    result, started, ex = asyncio.run(scenario())
    assert result.code is None and not started
    assert result.error.startswith(f"not started: the Dask scheduler {address} could not be "), (
        result.error
    )
    assert "lost" not in result.error and ex.lost == []  # (no worker died under it)
    assert not (tmp_path / "ran.log").exists()


@pytest.mark.slow
def test_a_plan_whose_scheduler_cannot_be_reached_retries_the_task_and_says_why(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    pytest.importorskip("distributed", reason="distributed is not installed: pip install '.[dask]'")
    address = f"tcp://127.0.0.1:{free_port()}"
    (tmp_path / "plan.yaml").write_text(f"""
name: nodask
agents:
  d:
    executor: {{dask: "{address}"}}
phases:
  - id: one
    tasks:
      - {{id: a, run: "echo hi", retries: 1, backoff: 0.1}}
""")
    done = run_pg(tmp_path, cli_env, "run", "plan.yaml", "--headless", "-q")
    assert done.returncode == 1, done.stdout + done.stderr
    a = _tasks(_show(tmp_path, cli_env))["a"]
    assert a["status"] == "failed" and a["attempts"] == 2, a  # (its retry policy: once more)
    finished = _events(cli_env, "task.finished")
    reasons = [str(e["reason"]) for e in finished]
    said = f"not started: the Dask scheduler {address} could not be reached"
    assert len(reasons) == 2 and all(r.startswith(said) for r in reasons), reasons
    assert [e["attempt"] for e in _events(cli_env, "task.retrying")] == [2]
    assert not [e for e in _events(cli_env, "risk.raised") if e["rule"] == "worker_lost"]
    # (recorded as unspawned: no "started" line with its command for what ran nothing)
    commands = [str(e["command"]) for e in _events(cli_env, "task.started")]
    assert len(commands) == 2 and all(c.startswith("(not started: the Dask") for c in commands), (
        commands
    )
