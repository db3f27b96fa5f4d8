"""Which jobs ingress sends an early start for (ingress/early_start.py).

An early start the ledger then refuses is a provider call the gateway pays for. The gate keeps that rare: it
sends one only for a workspace whose last result showed ample credit, not soon after a refusal, and not while
this replica is busy.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from ingress.early_start import EarlyStartGate
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobSubmitted, ChatParameters, JobError, PromptMessage, utc_now
from schemas.results import JobResult

MODEL = "openai/gpt-4.1-mini"


def job(workspace_id: str = "ws_gate", *, max_tokens: int = 100, lane: str = "interactive") -> ChatJobSubmitted:
    return ChatJobSubmitted(
        workspace_id=workspace_id,
        job_id="job_gate",
        api_key_id="key_gate",
        model_id=MODEL,
        route=(MODEL,),
        lane=lane,
        input_tokens_estimate=50,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=max_tokens),
        deadline_at=utc_now() + timedelta(minutes=5),
    )


def result(balance_left: int, status: str = "completed") -> JobResult:
    error = JobError(code=ErrorCode.RATE_LIMITED, message="slow down") if status == "rejected" else None
    return JobResult(
        workspace_id="ws_gate",
        job_id="job_seen",
        model_id=MODEL,
        status=status,
        balance_left=balance_left,
        error=error,
    )


def gate(catalogue: Catalogue, **overrides: object) -> EarlyStartGate:
    options: dict[str, object] = {
        "enabled": True,
        "margin": 4,
        "fresh_s": 300.0,
        "quiet_after_refusal_s": 30.0,
        "in_flight_max": 16,
        "workspaces_max": 1000,
    } | overrides
    return EarlyStartGate(catalogue, **options)  # type: ignore[arg-type]


def hold_of(catalogue: Catalogue, submitted: ChatJobSubmitted) -> int:
    model = catalogue.get(MODEL)
    return math.ceil(50 * model.input_price + submitted.params.max_tokens * model.output_price)


def test_a_workspace_not_seen_yet_gets_no_early_start(catalogue: Catalogue) -> None:
    assert not gate(catalogue).allows(job(), in_flight=0)


def test_a_well_funded_workspace_gets_one(catalogue: Catalogue) -> None:
    early = gate(catalogue)
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert early.allows(job(), in_flight=0)


def test_a_balance_under_the_margin_gets_none(catalogue: Catalogue) -> None:
    early = gate(catalogue)
    hold = hold_of(catalogue, job())
    early.observe("ws_gate", result(balance_left=4 * hold - 1))
    assert not early.allows(job(), in_flight=0)
    early.observe("ws_gate", result(balance_left=4 * hold))
    assert early.allows(job(), in_flight=0)


def test_a_burst_cannot_lean_on_one_balance(catalogue: Catalogue) -> None:
    early = gate(catalogue)
    hold = hold_of(catalogue, job())
    early.observe("ws_gate", result(balance_left=6 * hold))
    # Each early start counts its hold against the balance seen: 6, 5 and 4 holds left cover the margin of 4,
    # 3 does not.
    assert [early.allows(job(), in_flight=0) for _ in range(4)] == [True, True, True, False]


def test_a_job_never_sent_gives_its_allowance_back(catalogue: Catalogue) -> None:
    """A keyed request whose key names an earlier job is answered by that job (ingress/flow.py): its early start
    is never sent, so replays do not wear down the workspace's allowance until its next result."""
    early = gate(catalogue)
    hold = hold_of(catalogue, job())
    early.observe("ws_gate", result(balance_left=5 * hold))
    for _ in range(3):
        replayed = job()
        assert early.allows(replayed, in_flight=0)
        early.give_back(replayed.model_copy(update={"early_start": True}))
    # Still the 5 holds seen: two more early starts fit the margin of 4, as with no replay at all.
    assert [early.allows(job(), in_flight=0) for _ in range(3)] == [True, True, False]
    # Only a job that was let through gives anything back.
    early.give_back(job().model_copy(update={"early_start": False}))
    assert not early.allows(job(), in_flight=0)


def test_after_a_refusal_the_workspace_waits(catalogue: Catalogue) -> None:
    early = gate(catalogue)
    early.observe("ws_gate", result(balance_left=1_000_000, status="rejected"))
    assert not early.allows(job(), in_flight=0)
    # A success after the refusal does not lift the quiet period: limits refuse in bursts.
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert not early.allows(job(), in_flight=0)


def test_a_busy_replica_sends_none(catalogue: Catalogue) -> None:
    early = gate(catalogue, in_flight_max=2)
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert early.allows(job(), in_flight=2)
    assert not early.allows(job(), in_flight=3)


def test_an_old_balance_is_not_trusted(catalogue: Catalogue) -> None:
    early = gate(catalogue, fresh_s=1e-9)
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert not early.allows(job(), in_flight=0)


@pytest.mark.parametrize("overrides", [{"enabled": False}])
def test_turned_off_it_sends_none(catalogue: Catalogue, overrides: dict[str, object]) -> None:
    early = gate(catalogue, **overrides)
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert not early.allows(job(), in_flight=0)


def test_batch_jobs_get_none(catalogue: Catalogue) -> None:
    early = gate(catalogue)
    early.observe("ws_gate", result(balance_left=1_000_000))
    assert not early.allows(job(lane="batch"), in_flight=0)


def test_it_forgets_the_oldest_workspaces_past_its_bound(catalogue: Catalogue) -> None:
    early = gate(catalogue, workspaces_max=2)
    for name in ("ws_a", "ws_b", "ws_c"):
        early.observe(name, result(balance_left=1_000_000))
    assert not early.allows(job("ws_a"), in_flight=0)
    assert early.allows(job("ws_c"), in_flight=0)


def test_the_topic_is_the_models_interactive_dispatch(catalogue: Catalogue) -> None:
    pool = catalogue.get(MODEL).pool
    assert gate(catalogue).topic_of(job(), "t1.") == f"t1.dispatch.{pool}.interactive"
