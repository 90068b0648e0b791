"""A command the engine took but could not record (its database failed as it wrote the
command's events) is not told as refused: the sender is told it was taken and not recorded,
and where to see how the run ended. It was `refused: ...`, which says nothing was done."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.client import send
from phasegate.engine.client.runs import CommandRefused, NoAnswer
from phasegate.engine.model import commands as cmd
from phasegate.engine.run.channel import Channel
from phasegate.engine.store import SQLiteStore
from phasegate.engine.store.paths import run_path, socket_path


async def test_a_command_taken_but_not_recorded_is_not_called_refused(tmp_path: Path) -> None:
    store = await SQLiteStore.open(str(tmp_path / "pg.db"))
    taken: list[str] = []

    async def failing() -> None:
        raise OSError("disk I/O error")

    def take(kind: str, args: dict[str, object], who: object) -> dict[str, object]:
        taken.append(kind)
        return {"id": 7}

    path = socket_path(run_path(store.path, "run1"))
    channel = Channel(path, take, stored=failing)  # type: ignore[arg-type]
    await channel.open()
    try:
        with pytest.raises(NoAnswer) as told:
            await send(store, "run1", cmd.Note("hello"))
    finally:
        await channel.close()
        await store.close()
    assert taken == ["note"]
    said = str(told.value)
    assert not isinstance(told.value, CommandRefused) and "refused" not in said
    assert "took the note command but could not record it" in said
    assert "disk I/O error" in said and "phasegate show run1" in said
