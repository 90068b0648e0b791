"""What the dashboard's risk feed says of a retry: an automatic one waits its backoff, an
operator's starts now and says who asked (it read `retrying as attempt 2 in 0s`)."""

from __future__ import annotations

from phasegate.engine.model import events as ev
from phasegate.engine.model.state import RunState
from phasegate.tui.dashboard.risks import risk_of


def test_a_retry_says_when_and_why() -> None:
    state = RunState()
    backoff = risk_of(ev.TaskRetrying(1.0, "t", 2, 2.0, "exited with code 1"), state)
    asked = risk_of(ev.TaskRetrying(1.0, "t", 2, 0.0, "retry asked by bob"), state)
    assert backoff is not None and asked is not None
    assert backoff.message == "retrying as attempt 2 in 2s (exited with code 1)"
    assert asked.message == "retrying as attempt 2 (retry asked by bob)"


def test_a_decision_refused_for_a_gate_the_run_lacks_is_no_risk() -> None:
    """Regression: anyone's typo (`approve RUN reviw`) showed as a risk on every dashboard; a
    decision the gate's policy refused (someone tried) still shows."""
    from phasegate.engine.model.state import GateState

    state = RunState(gates={"review": GateState("review", "build")})
    typo = ev.GateRefused(1.0, "reviw", "approve", "eve", 9, "this run has no gate 'reviw'")
    tried = ev.GateRefused(1.0, "review", "approve", "eve", 9, "eve may not decide it")
    assert risk_of(typo, state) is None
    risk = risk_of(tried, state)
    assert risk is not None and risk.message == "eve: eve may not decide it"
