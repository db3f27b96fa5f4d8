"""Finance in PostgreSQL: top-ups once per key, payment failures retried and reported, thresholds once per
crossing under racing settlements, versioned prices, corrections, and bad input that moves nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import corrections, crossings, debits, finance_events, holds, price_book, rates, thresholds, topups
from ledger.finance_domain import FinanceInputError
from ledger.topups import Finance, TopupPolicy
from schemas.catalogue import Catalogue
from schemas.finance import BalanceThresholdCrossed, TopupFailed, TopupSucceeded
from tests.conftest import make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.test_ledger_repository import hold_request, usage_of

# Retries due at once, so a test drains the queue without waiting.
FAST = Finance.local(policy=TopupPolicy(attempts_max=3, backoff_base_s=0.0, backoff_max_s=0.0))


async def topup(engine: AsyncEngine, workspace_id: str, paisa: int, method: str = "card", key: str | None = None):  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        return await topups.request_topup(
            conn,
            FAST,
            workspace_id=workspace_id,
            amount_paisa=paisa,
            method=method,
            idempotency_key=key or uuid.uuid4().hex,
        )


async def journal_size(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT count(*) FROM journal_transactions WHERE workspace_id = :ws"), {"ws": workspace_id}
                )
            ).scalar_one()
        )


async def events_of(engine: AsyncEngine, workspace_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT type FROM finance_events WHERE workspace_id = :ws ORDER BY id"), {"ws": workspace_id}
        )
        return [row.type for row in rows]


async def test_a_redelivered_topup_request_credits_once(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    results = await asyncio.gather(*(topup(engine, workspace.id, 25_050, key="same-key") for _ in range(8)))
    assert sum(not r.replayed for r in results) == 1
    assert {r.topup.id for r in results} == {results[0].topup.id}
    assert results[0].topup.tokens == 125_250  # 250.50 BDT at 500 tokens per BDT
    assert (await balances(engine, workspace.id))["available"] == 125_250
    assert await events_of(engine, workspace.id) == ["topup.succeeded"]
    with pytest.raises(topups.TopupConflict):
        await topup(engine, workspace.id, 30_000, key="same-key")
    await assert_books_balance(engine)


async def test_an_invoiced_topup_credits_now_and_its_payment_settles_the_receivable(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    outcome = await topup(engine, workspace.id, 1_000, method="invoice")
    assert outcome.topup.status == "succeeded" and outcome.topup.tokens == 5_000
    owed = await balances(engine, workspace.id)
    assert owed["available"] == 5_000 and owed["receivable"] == -5_000 and owed["funding"] == 0
    invoice_id = f"inv_{outcome.topup.id}"
    async with engine.begin() as conn:
        assert await topups.mark_invoice_paid(conn, workspace.id, invoice_id)
    async with engine.begin() as conn:
        assert not await topups.mark_invoice_paid(conn, workspace.id, invoice_id)
    paid = await balances(engine, workspace.id)
    assert paid["available"] == 5_000 and paid["receivable"] == 0 and paid["funding"] == -5_000
    await assert_books_balance(engine)


async def test_a_declined_card_credits_nothing_and_says_why(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100)
    outcome = await topup(engine, workspace.id, 10_002)
    assert outcome.topup.status == "failed" and "card_declined" in (outcome.topup.failure_reason or "")
    assert isinstance(outcome.events[0], TopupFailed) and not outcome.events[0].will_retry
    assert (await balances(engine, workspace.id))["available"] == 100
    assert await journal_size(engine, workspace.id) == 1  # the starting grant only


async def settle_jobs(engine: AsyncEngine, workspace_id: str, costs: list[int], finance: Finance = FAST) -> list:  # type: ignore[type-arg]
    """Admit one job per cost (hold = cost), then settle each in its own transaction, hooked as settlement is."""
    requests = [hold_request(workspace_id, cost) for cost in costs]
    async with engine.begin() as conn:
        await holds.admit_batch(conn, requests)

    async def one(request: holds.HoldRequest) -> list:  # type: ignore[type-arg]
        async with engine.begin() as conn:
            settled = await debits.settle_batch(conn, {workspace_id}, [usage_of(request.job_id, request.hold)])
            return await crossings.after_settlement(conn, settled, finance)

    return [event for events in await asyncio.gather(*(one(r) for r in requests)) for event in events]


async def test_racing_settlements_fire_the_alert_and_the_auto_topup_once(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        alert_id = await thresholds.add_alert_threshold(conn, workspace.id, kind="absolute", threshold_tokens=500)
        # 0.02 BDT buys 10 tokens: too few to lift the balance back above the threshold and re-arm it.
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=2 + 100, method="invoice", enabled=True
        )
    events = await settle_jobs(engine, workspace.id, [50] * 20)
    crossed = [e for e in events if isinstance(e, BalanceThresholdCrossed)]
    assert sorted(e.kind for e in crossed) == ["absolute", "auto_topup"]
    assert [e.threshold_id for e in crossed if e.kind == "absolute"] == [alert_id]
    assert all(e.balance_before_tokens >= 500 > e.balance_after_tokens for e in crossed)
    credited = [e for e in events if isinstance(e, TopupSucceeded)]
    assert len(credited) == 1 and credited[0].tokens == 510 and credited[0].origin == "auto"
    after = await balances(engine, workspace.id)
    assert after["available"] + after["held"] == 1_000 - 1_000 + 510
    assert sorted(await events_of(engine, workspace.id)) == sorted(
        ["balance.threshold_crossed", "balance.threshold_crossed", "topup.succeeded"]
    )
    await assert_books_balance(engine)


async def test_a_threshold_re_arms_after_the_balance_rises_above_it(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        await thresholds.add_alert_threshold(conn, workspace.id, kind="absolute", threshold_tokens=500)
    first = await settle_jobs(engine, workspace.id, [300, 300])
    again_below = await settle_jobs(engine, workspace.id, [100])
    await topup(engine, workspace.id, 200)  # +1,000 tokens: above the threshold, re-armed
    second = await settle_jobs(engine, workspace.id, [900])
    assert [len(first), len(again_below), len(second)] == [1, 0, 1]
    async with engine.connect() as conn:
        armed = (
            await conn.execute(
                text("SELECT armed FROM alert_thresholds WHERE workspace_id = :ws"), {"ws": workspace.id}
            )
        ).scalar_one()
    assert armed is False


async def test_a_percent_of_last_topup_threshold(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    async with engine.begin() as conn:
        await thresholds.add_alert_threshold(conn, workspace.id, kind="percent_of_last_topup", percent=25)
    await topup(engine, workspace.id, 200)  # 1,000 tokens: the threshold is 250
    events = await settle_jobs(engine, workspace.id, [700, 100])
    assert [(e.kind, e.threshold_tokens) for e in events] == [("percent_of_last_topup", 250)]


async def test_a_failing_auto_topup_is_retried_reported_and_credited_once(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        # .03 BDT: the local card processor is unavailable twice, then approves.
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=1_003, method="card", enabled=True
        )
    events = await settle_jobs(engine, workspace.id, [600])
    failed = [e for e in events if isinstance(e, TopupFailed)]
    assert len(failed) == 1 and failed[0].will_retry and failed[0].attempt == 1
    for attempt in (2, 3):
        async with engine.begin() as conn:
            retried = await topups.retry_due(conn, FAST, limit=100)
        retried = [e for e in retried if e.workspace_id == workspace.id]
        assert [(type(e).__name__, e.attempt) for e in retried] == [
            ("TopupFailed" if attempt == 2 else "TopupSucceeded", attempt)
        ]
    async with engine.begin() as conn:
        assert [e for e in await topups.retry_due(conn, FAST, limit=100) if e.workspace_id == workspace.id] == []
    after = await balances(engine, workspace.id)
    assert after["available"] == 400 + 5_015
    assert await events_of(engine, workspace.id) == [
        "balance.threshold_crossed",
        "topup.failed",
        "topup.failed",
        "topup.succeeded",
    ]
    await assert_books_balance(engine)


async def test_an_auto_topup_that_never_succeeds_ends_failed_with_nothing_credited(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=1_004, method="card", enabled=True
        )
    await settle_jobs(engine, workspace.id, [600])
    for _ in range(5):
        async with engine.begin() as conn:
            await topups.retry_due(conn, FAST, limit=100)
    async with engine.connect() as conn:
        listed = await finance_queries_topups(conn, workspace.id)
    assert [(t["status"], t["attempts"], t["next_attempt_at"]) for t in listed] == [("failed", 3, None)]
    assert (await balances(engine, workspace.id))["available"] == 400
    assert (await events_of(engine, workspace.id)).count("topup.failed") == 3


async def finance_queries_topups(conn, workspace_id: str):  # type: ignore[no-untyped-def]
    from ledger import finance_queries

    return await finance_queries.topups(conn, workspace_id, cursor=None, limit=10)


async def test_the_outbox_hands_out_unpublished_events_until_marked(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    await topup(engine, workspace.id, 100)
    async with engine.begin() as conn:
        pending = [(i, e) for i, e in await finance_events.unpublished(conn, 10_000) if e.workspace_id == workspace.id]
        assert [type(e) for _, e in pending] == [TopupSucceeded]
        await finance_events.mark_published(conn, [i for i, _ in pending])
    async with engine.connect() as conn:
        left = [e for _, e in await finance_events.unpublished(conn, 10_000) if e.workspace_id == workspace.id]
    assert left == []


async def test_refunds_and_adjustments_are_new_entries_once_each(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    job = hold_request(workspace.id, 300)
    async with engine.begin() as conn:
        await holds.admit(conn, job)
        await debits.settle(conn, workspace.id, usage_of(job.job_id, 300))
    for _ in range(2):
        async with engine.begin() as conn:
            refund = await corrections.refund_job(conn, workspace.id, job.job_id, reason="bad answer", actor="admin")
    assert refund.replayed and (await balances(engine, workspace.id))["available"] == 1_000
    async with engine.begin() as conn:
        await corrections.adjust(
            conn, workspace.id, -250, reason="goodwill reversal", actor="admin", idempotency_key="a1"
        )
        await corrections.adjust(
            conn, workspace.id, -250, reason="goodwill reversal", actor="admin", idempotency_key="a1"
        )
        await corrections.adjust(conn, workspace.id, 40, reason="credit note 7", actor="admin", idempotency_key="a2")
    assert (await balances(engine, workspace.id))["available"] == 790
    with pytest.raises(FinanceInputError, match="below its floor"):
        async with engine.begin() as conn:
            await corrections.adjust(conn, workspace.id, -791, reason="too much", actor="admin", idempotency_key="a3")
    failed = hold_request(workspace.id, 10)
    async with engine.begin() as conn:
        await holds.admit(conn, failed)
        await debits.settle(conn, workspace.id, usage_of(failed.job_id, 0, completed=False))
    with pytest.raises(FinanceInputError, match="nothing to refund"):
        async with engine.begin() as conn:
            await corrections.refund_job(conn, workspace.id, failed.job_id, reason="x", actor="admin")
    await assert_books_balance(engine)


async def test_a_price_effective_later_does_not_touch_jobs_admitted_before_it(
    engine: AsyncEngine, catalogue: Catalogue
) -> None:
    async with engine.begin() as conn:
        await price_book.seed_from_catalogue(conn, catalogue)
    async with engine.begin() as conn:
        assert await price_book.seed_from_catalogue(conn, catalogue) == []  # idempotent
    async with engine.connect() as conn:
        original = (await price_book.prices_at(conn, ["test/priced"]))["test/priced"]
    assert (original.input, original.output, original.cached_input) == (2, 3, 2)
    workspace = await make_workspace(engine, tokens=10_000)
    effective_at = datetime.now(UTC) + timedelta(seconds=1.5)
    async with engine.begin() as conn:
        newer = await price_book.publish_price(
            conn,
            catalogue,
            model_id="test/priced",
            input_multiplier=Fraction(5, 2),
            output_multiplier=Fraction(4),
            cached_input_multiplier=Fraction(1, 2),
            effective_at=effective_at,
        )
    before = hold_request(workspace.id, 10)
    async with engine.begin() as conn:
        await holds.admit(conn, before)
    await asyncio.sleep(max(0.0, (effective_at - datetime.now(UTC)).total_seconds()) + 0.3)
    after = hold_request(workspace.id, 10)
    async with engine.begin() as conn:
        await holds.admit(conn, after)
    async with engine.connect() as conn:
        assert (await price_book.prices_for_job(conn, before.job_id, ["test/priced"]))["test/priced"] == original
        assert (await price_book.prices_for_job(conn, after.job_id, ["test/priced"]))["test/priced"] == newer
        assert (await price_book.prices_at(conn, ["test/priced"]))["test/priced"] == newer


async def test_a_workspace_rate_override_applies_from_its_effective_time(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    effective_at = datetime.now(UTC) + timedelta(seconds=1)
    async with engine.begin() as conn:
        version = await rates.publish_rate(
            conn, workspace_id=workspace.id, tokens_per_bdt=Fraction(1001, 2), effective_at=effective_at, reason="deal"
        )
    assert (await topup(engine, workspace.id, 100)).topup.tokens == 500
    await asyncio.sleep(max(0.0, (effective_at - datetime.now(UTC)).total_seconds()) + 0.3)
    outcome = await topup(engine, workspace.id, 100)
    assert outcome.topup.tokens == 500 and outcome.topup.rate_version_id == version.id  # 500.5 rounds down
    assert (await topup(engine, workspace.id, 200)).topup.tokens == 1_001


@pytest.mark.parametrize(
    "operation",
    [
        "zero amount",
        "negative amount",
        "non-integer amount",
        "huge amount",
        "unknown method",
        "rate in the past",
        "price in the past",
        "negative threshold",
        "negative auto top-up threshold",
        "percent out of range",
        "NUL in the idempotency key",
        "adjustment of zero",
        "refund without a reason",
    ],
)
async def test_bad_input_is_refused_and_nothing_in_the_journal_moves(
    engine: AsyncEngine, catalogue: Catalogue, operation: str
) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    size = await journal_size(engine, workspace.id)
    past = datetime.now(UTC) - timedelta(seconds=5)
    calls = {
        "zero amount": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=0, method="card", idempotency_key="k"
        ),
        "negative amount": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=-100, method="card", idempotency_key="k"
        ),
        "non-integer amount": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=1.5, method="card", idempotency_key="k"
        ),
        "huge amount": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=10**30, method="card", idempotency_key="k"
        ),
        "unknown method": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=100, method="bitcoin", idempotency_key="k"
        ),
        "rate in the past": lambda c: rates.publish_rate(
            c, workspace_id=workspace.id, tokens_per_bdt=Fraction(600), effective_at=past, reason="late"
        ),
        "price in the past": lambda c: price_book.publish_price(
            c,
            catalogue,
            model_id="test/priced",
            input_multiplier=Fraction(1),
            output_multiplier=Fraction(1),
            cached_input_multiplier=None,
            effective_at=past,
        ),
        "negative threshold": lambda c: thresholds.add_alert_threshold(
            c, workspace.id, kind="absolute", threshold_tokens=-1
        ),
        "negative auto top-up threshold": lambda c: thresholds.set_auto_topup(
            c, workspace.id, threshold_tokens=-5, amount_paisa=100, method="card", enabled=True
        ),
        "percent out of range": lambda c: thresholds.add_alert_threshold(
            c, workspace.id, kind="percent_of_last_topup", percent=101
        ),
        "NUL in the idempotency key": lambda c: topups.request_topup(
            c, FAST, workspace_id=workspace.id, amount_paisa=100, method="card", idempotency_key="a\x00b"
        ),
        "adjustment of zero": lambda c: corrections.adjust(
            c, workspace.id, 0, reason="nothing", actor="admin", idempotency_key="z"
        ),
        "refund without a reason": lambda c: corrections.refund_job(
            c, workspace.id, "job_x", reason="  ", actor="admin"
        ),
    }
    with pytest.raises(FinanceInputError):
        async with engine.begin() as conn:
            await calls[operation](conn)
    assert await journal_size(engine, workspace.id) == size
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM topups WHERE workspace_id = :ws) + "
                    "(SELECT count(*) FROM alert_thresholds WHERE workspace_id = :ws) + "
                    "(SELECT count(*) FROM auto_topups WHERE workspace_id = :ws) + "
                    "(SELECT count(*) FROM exchange_rates WHERE workspace_id = :ws)"
                ),
                {"ws": workspace.id},
            )
        ).scalar_one()
    assert counts == 0
    # Another workspace's top-up still completes.
    other = await make_workspace(engine, tokens=0)
    assert (await topup(engine, other.id, 100)).topup.status == "succeeded"
