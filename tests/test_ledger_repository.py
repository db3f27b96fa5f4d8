"""The ledger's PostgreSQL writes on their own: idempotency, no overdraft under races, double entry."""

from __future__ import annotations

import asyncio
import uuid
from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import debits, domain, holds, journal
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances, entries_for

# One credit token per token, as the shipped catalogue prices openai/gpt-4.1-mini.
UNIT_TERMS = {
    "openai/gpt-4.1-mini": domain.Terms(domain.Price(Fraction(1), Fraction(1), Fraction(1)), 1_047_576, 32_768)
}


def hold_request(workspace_id: str, hold: int, job_id: str | None = None) -> holds.HoldRequest:
    return holds.HoldRequest(
        job_id=job_id or f"job_{uuid.uuid4().hex}",
        workspace_id=workspace_id,
        api_key_id="k",
        model_id="openai/gpt-4.1-mini",
        hold=hold,
        tags=("t", 'quote"and\\slash'),
        terms=UNIT_TERMS,
    )


def usage_of(job_id: str, cost: int, completed: bool = True) -> debits.Usage:
    return debits.Usage(
        job_id=job_id,
        outcome="completed" if completed else "failed",
        model_id="openai/gpt-4.1-mini",
        provider="openai",
        input_tokens=cost,
        output_tokens=0,
        answer="a",
        finish_reason="stop",
        error=None,
    )


async def admit(engine: AsyncEngine, workspace_id: str, hold: int, job_id: str | None = None) -> holds.Admission:
    async with engine.begin() as conn:
        return await holds.admit(conn, hold_request(workspace_id, hold, job_id))


async def settle(
    engine: AsyncEngine, workspace_id: str, job_id: str, cost: int, completed: bool = True
) -> debits.SettledJob | None:
    async with engine.begin() as conn:
        return await debits.settle(conn, workspace_id, usage_of(job_id, cost, completed))


async def test_racing_admissions_never_overdraw(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    results = await asyncio.gather(*(admit(engine, workspace.id, 100) for _ in range(40)))
    assert sum(result.admitted for result in results) == 10
    after = await balances(engine, workspace.id)
    assert after["available"] == 0 and after["held"] == 1_000
    await assert_books_balance(engine)


async def test_credit_line_lets_the_balance_go_negative_only_that_far(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100, credit_line_tokens=250)
    results = [await admit(engine, workspace.id, 100) for _ in range(5)]
    assert [r.admitted for r in results] == [True, True, True, False, False]
    assert (await balances(engine, workspace.id))["available"] == -200


async def test_replayed_admission_and_settlement_move_money_once(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    job_id = f"job_{uuid.uuid4().hex}"
    first = await admit(engine, workspace.id, 300, job_id)
    again = await admit(engine, workspace.id, 300, job_id)
    assert first.admitted and again.admitted and again.replayed
    settled = await settle(engine, workspace.id, job_id, 120)
    replayed = await settle(engine, workspace.id, job_id, 120)
    assert settled is not None and replayed is not None
    assert settled.cost_tokens == replayed.cost_tokens == 120
    assert replayed.replayed and replayed.balance_left == settled.balance_left == 880
    assert await balances(engine, workspace.id) == {"available": 880, "held": 0, "spent": 120, "funding": -1_000}
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    await assert_books_balance(engine)


async def test_failed_job_releases_its_hold_and_charges_nothing(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=500)
    job_id = f"job_{uuid.uuid4().hex}"
    await admit(engine, workspace.id, 400, job_id)
    settled = await settle(engine, workspace.id, job_id, 0, completed=False)
    assert settled is not None and settled.status == "failed" and settled.cost_tokens == 0
    assert await balances(engine, workspace.id) == {"available": 500, "held": 0, "spent": 0, "funding": -500}
    assert await entries_for(engine, job_id) == ["hold", "release"]


async def forge_unbalanced_entry(engine: AsyncEngine, workspace_id: str) -> None:
    """Writes a one-legged transaction straight into the tables, in one statement as the journal does, as a buggy
    writer might."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "WITH txn AS (INSERT INTO journal_transactions (idempotency_key, kind, workspace_id) "
                "VALUES (:key, 'forged', :ws) RETURNING id) "
                "INSERT INTO postings (transaction_id, account_id, amount) SELECT id, :acct, 5 FROM txn"
            ),
            {"key": f"forged:{uuid.uuid4().hex}", "ws": workspace_id, "acct": f"ws:{workspace_id}:available"},
        )


async def test_the_database_refuses_an_unbalanced_entry(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10)
    with pytest.raises(DBAPIError, match="unbalanced"):
        await forge_unbalanced_entry(engine, workspace.id)
    await assert_books_balance(engine)


async def test_the_journal_is_append_only(engine: AsyncEngine) -> None:
    await make_workspace(engine, tokens=10)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE postings SET amount = amount * 2"))


async def test_grants_are_idempotent_by_key(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    for _ in range(3):
        async with engine.begin() as conn:
            await journal.grant(conn, workspace.id, 700, idempotency_key=f"topup:{workspace.id}:1")
    assert (await balances(engine, workspace.id))["available"] == 700


async def test_a_batch_decides_in_order_against_the_running_balance(engine: AsyncEngine) -> None:
    first, second = await make_workspace(engine, tokens=250), await make_workspace(engine, tokens=100)
    repeated = hold_request(first.id, 100)
    batch = [
        repeated,
        hold_request(second.id, 100),
        hold_request(first.id, 100),
        repeated,
        hold_request(first.id, 100),
        hold_request(second.id, 1),
    ]
    async with engine.begin() as conn:
        admissions = await holds.admit_batch(conn, batch)
    assert [(a.admitted, a.replayed) for a in admissions] == [
        (True, False),
        (True, False),
        (True, False),
        (True, True),
        (False, False),
        (False, False),
    ]
    assert admissions[4].balance_left == 250 and admissions[5].balance_left == 100
    assert await balances(engine, first.id) == {"available": 50, "held": 200, "spent": 0, "funding": -250}
    assert await entries_for(engine, repeated.job_id) == ["hold"]

    usages = [usage_of(repeated.job_id, 30), usage_of(batch[2].job_id, 100), usage_of(repeated.job_id, 30)]
    async with engine.begin() as conn:
        settled = await debits.settle_batch(conn, {first.id}, usages)
    assert [(s.cost_tokens, s.balance_left, s.replayed) for s in settled if s] == [
        (30, 220, False),
        (100, 120, False),
        (30, 220, True),
    ]
    assert await balances(engine, first.id) == {"available": 120, "held": 0, "spent": 130, "funding": -250}
    async with engine.connect() as conn:
        tags = (await conn.execute(text("SELECT tags FROM jobs WHERE id = :id"), {"id": repeated.job_id})).scalar_one()
    assert tags == ["t", 'quote"and\\slash']
    await assert_books_balance(engine)
