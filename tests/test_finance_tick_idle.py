"""The finance tick first asks whether there is anything to do at all (one statement): what falls due or is
recorded while ticks find nothing must still be taken by the very next tick."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ledger import finance_events, finance_tick, thresholds
from ledger.topups import Finance, TopupPolicy
from schemas.finance import BalanceThresholdCrossed, FinanceEvent
from tests import services
from tests.conftest import make_workspace
from tests.test_finance_ledger import settle_jobs

# A failed card attempt is retried an hour later: the ticks in between have nothing to do.
SLOW = Finance.local(policy=TopupPolicy(attempts_max=3, backoff_base_s=3600.0, backoff_max_s=3600.0))


@pytest.fixture
async def alone() -> AsyncIterator[AsyncEngine]:
    """A database of its own: a session stack's ledger would tick the session database's outbox first."""
    url = await asyncio.to_thread(services.create_database)
    engine = create_async_engine(url, pool_size=4)
    try:
        yield engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(services.drop_database, url)


async def test_a_retry_falling_due_and_an_event_recorded_between_idle_ticks_are_each_taken_by_the_next_tick(
    alone: AsyncEngine,
) -> None:
    engine = alone
    published: list[FinanceEvent] = []

    async def publish(events: list[FinanceEvent]) -> None:
        published.extend(events)

    async def tick() -> list[str]:
        published.clear()
        await finance_tick.tick(engine, SLOW, publish, retries_max=100, events_max=10_000)
        return [event.type for event in published]

    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=1_003, method="card", enabled=True
        )
    await settle_jobs(engine, workspace.id, [600], SLOW)  # crossed; the first card attempt failed, retry in 1 h
    assert await tick() == ["balance.threshold_crossed", "topup.failed"]
    for _ in range(3):  # idle: the retry is not due, nothing is left to publish
        assert await tick() == []

    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE topups SET next_attempt_at = now() WHERE workspace_id = :ws AND status = 'pending'"),
            {"ws": workspace.id},
        )
    assert await tick() == ["topup.failed"]  # attempt 2 (a ".03" amount fails twice), run by the next tick
    assert await tick() == []

    crossed = BalanceThresholdCrossed(
        workspace_id=workspace.id,
        job_id="job_idle_tick",
        threshold_id=None,
        kind="absolute",
        threshold_tokens=100,
        balance_before_tokens=150,
        balance_after_tokens=50,
    )
    async with engine.begin() as conn:
        await finance_events.record(conn, [crossed])
    assert await tick() == ["balance.threshold_crossed"]
    assert await tick() == []
