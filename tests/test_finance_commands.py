"""Finance commands as the ledger will execute them from `ledger.commands`: typed, idempotent, refused cleanly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import debits, finance_commands, holds
from ledger.finance_domain import FinanceInputError
from ledger.topups import Finance
from schemas.catalogue import Catalogue
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.test_ledger_repository import hold_request, usage_of


async def run(engine: AsyncEngine, catalogue: Catalogue, workspace_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with engine.begin() as conn:
        command = finance_commands.parse(payload)
        return await finance_commands.execute(conn, Finance(), catalogue, workspace_id, command, actor="test")


async def test_every_command_runs_once(engine: AsyncEngine, catalogue: Catalogue) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    topup = {"action": "topup.request", "amount_bdt": "250.50", "method": "invoice", "idempotency_key": "k1"}
    first = await run(engine, catalogue, workspace.id, topup)
    again = await run(engine, catalogue, workspace.id, topup)
    assert first["topup"]["tokens"] == 125_250 and not first["replayed"] and again["replayed"]
    invoice = {"action": "invoice.mark_paid", "invoice_id": f"inv_{first['topup']['id']}"}
    assert (await run(engine, catalogue, workspace.id, invoice))["paid"] is True
    assert (await run(engine, catalogue, workspace.id, invoice))["paid"] is False

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    rate = await run(
        engine,
        catalogue,
        workspace.id,
        {"action": "rate.publish", "tokens_per_bdt": "1001/2", "effective_at": later, "reason": "volume deal"},
    )
    assert rate["rate"]["tokens_per_bdt"] == "1001/2" and rate["rate"]["scope"] == "workspace"
    price = await run(
        engine,
        catalogue,
        workspace.id,
        {
            "action": "price.publish",
            "model_id": "test/cheap",
            "input_multiplier": "0.25",
            "output_multiplier": "3/4",
            "effective_at": later,
        },
    )
    assert price["price"]["input_multiplier"] == "1/4" and price["price"]["cached_input_multiplier"] == "1/4"

    await run(
        engine,
        catalogue,
        workspace.id,
        {"action": "auto_topup.set", "threshold_tokens": 100, "amount_bdt": "10", "method": "card"},
    )
    added = await run(
        engine,
        catalogue,
        workspace.id,
        {"action": "alert_threshold.add", "kind": "percent_of_last_topup", "percent": 10},
    )
    removed = {"action": "alert_threshold.remove", "threshold_id": added["threshold_id"]}
    assert (await run(engine, catalogue, workspace.id, removed))["removed"] is True
    assert (await run(engine, catalogue, workspace.id, removed))["removed"] is False

    job = hold_request(workspace.id, 300)
    async with engine.begin() as conn:
        await holds.admit(conn, job)
        await debits.settle(conn, workspace.id, usage_of(job.job_id, 120))
    refund = {"action": "refund", "job_id": job.job_id, "reason": "wrong answer"}
    assert (await run(engine, catalogue, workspace.id, refund))["tokens"] == 120
    assert (await run(engine, catalogue, workspace.id, refund))["replayed"] is True
    adjust = {"action": "adjustment", "tokens": -50, "reason": "fee", "idempotency_key": "fee-1"}
    assert (await run(engine, catalogue, workspace.id, adjust))["balance_tokens"] == 1_000 + 125_250 - 50
    assert (await run(engine, catalogue, workspace.id, adjust))["replayed"] is True
    after = await balances(engine, workspace.id)
    assert after["available"] == 1_000 + 125_250 - 50 and after["spent"] == 0
    async with engine.connect() as conn:
        detail = (
            await conn.execute(
                text("SELECT detail FROM journal_transactions WHERE idempotency_key = :k"),
                {"k": f"refund:{job.job_id}"},
            )
        ).scalar_one()
    assert detail["actor"] == "test" and detail["reason"] == "wrong answer"
    await assert_books_balance(engine)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"action": "teleport"}, "action"),
        ({"action": "topup.request", "idempotency_key": "k"}, "exactly one of"),
        ({"action": "topup.request", "amount_paisa": 100, "amount_bdt": "1", "idempotency_key": "k"}, "exactly one"),
        ({"action": "topup.request", "amount_paisa": "100", "idempotency_key": "k"}, "amount_paisa"),
        ({"action": "topup.request", "amount_paisa": True, "idempotency_key": "k"}, "amount_paisa"),
        ({"action": "topup.request", "amount_paisa": 1.5, "idempotency_key": "k"}, "amount_paisa"),
        ({"action": "topup.request", "amount_bdt": "1.234", "idempotency_key": "k"}, "two places"),
        ({"action": "topup.request", "amount_bdt": "-5", "idempotency_key": "k"}, "positive decimal"),
        ({"action": "topup.request", "amount_bdt": "0.00", "idempotency_key": "k"}, "above zero"),
        ({"action": "topup.request", "amount_paisa": 100, "method": "barter", "idempotency_key": "k"}, "unknown"),
        ({"action": "topup.request", "amount_paisa": 100, "idempotency_key": "k", "extra": 1}, "extra"),
        ({"action": "rate.publish", "tokens_per_bdt": "0", "reason": "r"}, "above zero"),
        (
            {"action": "rate.publish", "tokens_per_bdt": "500", "reason": "r", "effective_at": "2020-01-01T00:00:00Z"},
            "in the past",
        ),
        (
            {"action": "price.publish", "model_id": "test/cheap", "input_multiplier": "-1", "output_multiplier": "1"},
            "rational",
        ),
        (
            {"action": "price.publish", "model_id": "nope/none", "input_multiplier": "1", "output_multiplier": "1"},
            "no model",
        ),
        ({"action": "auto_topup.set", "threshold_tokens": -1, "amount_paisa": 100}, "below zero"),
        ({"action": "alert_threshold.add", "kind": "absolute", "threshold_tokens": -3}, "below zero"),
        ({"action": "adjustment", "tokens": 0, "reason": "r", "idempotency_key": "k"}, "zero"),
        ({"action": "refund", "job_id": "job_missing", "reason": "r"}, "no job"),
        # Integers no bigint holds are refused by their field before any rule or the book sees them.
        ({"action": "topup.request", "amount_paisa": 2**63, "idempotency_key": "k"}, "amount_paisa"),
        ({"action": "auto_topup.set", "threshold_tokens": 2**70 + 1, "amount_paisa": 100}, "threshold_tokens"),
        ({"action": "auto_topup.set", "threshold_tokens": 5, "amount_paisa": -(2**63) - 1}, "amount_paisa"),
        ({"action": "alert_threshold.add", "kind": "percent_of_last_topup", "percent": 10**30}, "percent"),
        ({"action": "alert_threshold.remove", "threshold_id": 2**64}, "threshold_id"),
        ({"action": "adjustment", "tokens": -(2**63) - 1, "reason": "r", "idempotency_key": "k"}, "tokens"),
    ],
)
async def test_bad_commands_are_refused_and_move_nothing(
    engine: AsyncEngine, catalogue: Catalogue, payload: dict[str, Any], message: str
) -> None:
    workspace = await make_workspace(engine, tokens=500)
    before = await balances(engine, workspace.id)
    with pytest.raises(FinanceInputError, match=message) as refused:
        await run(engine, catalogue, workspace.id, payload)
    assert finance_commands.error_code(refused.value) == "invalid_request"
    assert await balances(engine, workspace.id) == before


async def test_a_reused_topup_key_with_another_amount_is_a_conflict(engine: AsyncEngine, catalogue: Catalogue) -> None:
    workspace = await make_workspace(engine, tokens=0)
    await run(engine, catalogue, workspace.id, {"action": "topup.request", "amount_paisa": 100, "idempotency_key": "x"})
    with pytest.raises(FinanceInputError) as refused:
        await run(
            engine, catalogue, workspace.id, {"action": "topup.request", "amount_paisa": 200, "idempotency_key": "x"}
        )
    assert finance_commands.error_code(refused.value) == "idempotency_conflict"
