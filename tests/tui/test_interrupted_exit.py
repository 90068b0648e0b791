"""Ctrl-C in a command that does not catch it ends it with exit 130 and says so (DECISIONS.md:
130 interrupted by Ctrl-C); click's own handling printed `Aborted!` and exited 1, which says
a run failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasegate.engine.client import plans

from .conftest import in_process


def test_ctrl_c_in_a_command_is_exit_130(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted() -> dict[str, object]:
        raise KeyboardInterrupt  # (as a Ctrl-C arrives in whatever the command is doing)

    monkeypatch.setattr(plans, "json_schema", interrupted)
    done = in_process(("schema",), tmp_path, cli_env)
    assert done.returncode == 130, done
    assert done.stderr.strip() == "phasegate: interrupted" and "Aborted" not in done.stderr
