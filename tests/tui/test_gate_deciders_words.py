"""Whom a gate that forbids self-approval waits for, as the run's starter and the others are
told it: the starter is never named among those who may decide it (her toast said `gate review
waits for haalice, habob, hacarol`, her read-only prompt `only haalice, habob, hacarol may
decide it`, and of a group `only group:hateam may decide it`)."""

from __future__ import annotations

import grp
import os
import time
from pathlib import Path

from phasegate.engine.model import events as ev
from phasegate.engine.model.fold import project
from phasegate.engine.model.identity import current_identity
from phasegate.tui.dashboard.app import PhasegateApp
from phasegate.tui.dashboard.screens.gate import GatePrompt, GatesScreen

from .helpers import SIZE, live_run, text, until_shown

ME = current_identity().user
MY_GROUP = grp.getgrgid(os.getgid()).gr_name  # (the group the starter is in)
WHY = "(you started the run: the gate forbids self-approval)"


def _started(approvers: list[str], forbid: bool = True, user: str = ME) -> ev.RunStarted:
    gate = {"id": "review", "after": "p", "approval": "manual", "quorum": 1}
    return ev.RunStarted(
        time.time(),
        "selfish",
        "selfish-plan",
        "x.yaml",
        phases=[{"id": "p"}, {"id": "q"}],
        tasks=[{"id": "t", "phase": "p", "agent": "a", "needs": []}],
        agents=[{"id": "a", "slots": 1}],
        user=user,
        gates=[gate | {"approvers": approvers, "forbid_self_approval": forbid}],
    )


def _said(approvers: list[str], viewer: str = ME, forbid: bool = True) -> str:
    from phasegate.tui.dashboard.screens.gate import who_decides

    state = project([_started(approvers, forbid)])
    who, why = who_decides(state, state.gates["review"], viewer)
    return f"{who} ({why})" if why else who


def test_the_starter_is_left_out_of_whom_a_gate_waits_for() -> None:
    assert _said([ME, "habob", "hacarol"]) == f"habob, hacarol {WHY}"
    assert _said([f"group:{MY_GROUP}"]) == f"members of {MY_GROUP} but you {WHY}"
    assert _said([ME, "habob", f"group:{MY_GROUP}"]) == (
        f"habob, members of {MY_GROUP} but you {WHY}"
    )
    assert _said([]) == f"anyone but you {WHY}"
    # said to another user: who is left out, and why
    assert _said([ME, "habob"], viewer="haeve") == (
        f"habob ({ME} started the run: the gate forbids self-approval)"
    )
    # a group the starter is not in is not `but` her; nor is anyone left out of a gate that
    # allows self-approval, or of one whose approvers never named the starter
    no_group = "no-such-group-for-phasegate"
    assert _said([ME, f"group:{no_group}"]) == f"group:{no_group} {WHY}"
    assert _said([ME, "habob"], forbid=False) == f"{ME}, habob"
    assert _said(["habob", "hacarol"]) == "habob, hacarol"
    assert _said([], forbid=False) == "anyone"


async def test_the_starter_s_dashboard_names_the_others_only(tmp_path: Path) -> None:
    db = f"{tmp_path}/p.db"
    opened = ev.GateOpened(time.time(), "review", 1, [], "ab" * 32, "manual")
    run_id = await live_run(db, "selfish", [_started([ME, "habob", "hacarol"]), opened])
    app = PhasegateApp(db, run_id)
    async with app.run_test(size=SIZE) as pilot:

        def said() -> list[str]:
            return [n.message for n in app._notifications]

        await until_shown(pilot, "the toast", lambda: any("review" in m for m in said()))
        assert f"gate review waits for habob, hacarol {WHY}" in said()
        await pilot.press("g")
        await until_shown(pilot, "the gates", lambda: isinstance(app.screen, GatesScreen))
        await pilot.press("enter")
        await until_shown(pilot, "the prompt", lambda: isinstance(app.screen, GatePrompt))
        assert isinstance(app.screen, GatePrompt) and not app.screen.deciding
        head = " ".join(text(app.screen.query_one("#head")).split())
        assert f"only habob, hacarol may decide it {WHY}" in head, head
