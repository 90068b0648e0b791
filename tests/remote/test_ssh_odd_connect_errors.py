"""A host the plan lets through but a connection cannot be made to in an odd way (asyncssh or
the socket raising OverflowError, ValueError, UnicodeError rather than OSError): the task fails
with a readable reason, like any host out of reach, and the run stays stoppable (no task left
`running` for ever behind an exception nobody caught)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from phasegate.engine.exec.base import Exit, ProcSpec
from phasegate.engine.exec.ssh import SshExecutor
from phasegate.engine.exec.ssh_connect import SshError, asyncssh, check_host, connect, parse_host
from phasegate.engine.plan.model import Agent, SshOptions

ODD = [
    OverflowError("connect(): port must be 0-65535."),
    ValueError("odd address"),
    UnicodeError("encoding with 'idna' codec failed (UnicodeError: label too long)"),
]


def _refusing(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    async def connect_(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(asyncssh, "connect", connect_)


@pytest.mark.parametrize("exc", ODD, ids=lambda e: type(e).__name__)
def test_an_odd_connect_error_is_the_connection_error_naming_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    _refusing(monkeypatch, exc)
    (tmp_path / "kh").write_text("")
    opts = SshOptions(known_hosts=str(tmp_path / "kh"))
    with pytest.raises(SshError) as caught:
        asyncio.run(connect("ci@build.example:2222", opts))
    assert str(caught.value) == f"cannot connect to ci@build.example:2222: {exc}"
    # `phasegate doctor` says so, no traceback
    assert asyncio.run(check_host("ci@build.example:2222", opts)) == (None, str(caught.value))


@pytest.mark.parametrize("key", ["ci@127.0.0.1:99999", "127.0.0.1:0", "[::1]:65536"])
def test_a_port_out_of_range_is_refused_before_connecting(key: str) -> None:
    with pytest.raises(SshError, match="out of range"):
        parse_host(key)


@pytest.mark.parametrize("exc", ODD, ids=lambda e: type(e).__name__)
def test_a_task_on_a_host_that_fails_oddly_ends_failed_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    _refusing(monkeypatch, exc)
    (tmp_path / "kh").write_text("")
    agent = Agent(host="ci@build.example", ssh=SshOptions(known_hosts=str(tmp_path / "kh")))

    async def scenario() -> Exit:
        ex = SshExecutor("ci@build.example", agent)
        ended: asyncio.Future[Exit] = asyncio.get_running_loop().create_future()
        env = {"PHASEGATE_RUN_ID": "r", "PHASEGATE_TASK": "t1", "PHASEGATE_ATTEMPT": "1"}
        ex.start(ProcSpec(["true"], env, str(tmp_path)), lambda *_: None, ended.set_result)
        try:
            return await asyncio.wait_for(ended, 60)  # (a deadline: it ends at once)
        finally:
            ex.close()

    result = asyncio.run(scenario())
    assert result.code is None
    assert result.error == f"cannot connect to ci@build.example: {exc}"
