"""The ledger's finance timer tick: retry the auto top-ups that are due, then publish the outbox.

One call per tick on the ledger's leader (`app.timer`): retries run in their own transaction (each attempt's
outcome lands in the outbox with it), then the unpublished events are handed to `publish` and marked published
in the same transaction, so an event is published at least once (consumers dedupe on `event_id`), never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import finance_events, topups
from ledger.topups import Finance
from schemas.finance import FinanceEvent

Publish = Callable[[list[FinanceEvent]], Awaitable[None]]

# Anything for a tick to do: a retry due (retry_due's condition) or an unpublished event (unpublished's). Both are
# partial-index lookups, read in one autocommit statement: an idle tick costs one round trip instead of two
# transactions (seven round trips) every second.
_ANYTHING_TO_DO = text(
    "SELECT EXISTS (SELECT 1 FROM topups WHERE status = 'pending' AND next_attempt_at <= now()) "
    "OR EXISTS (SELECT 1 FROM finance_events WHERE published_at IS NULL)"
)


def tick_lock_key(app_id: str) -> int:
    """A stable signed 64-bit advisory-lock key per ledger app: one instance at a time drains the retries."""
    return int.from_bytes(hashlib.sha256(f"luntrex finance tick {app_id}".encode()).digest()[:8], "big", signed=True)


async def tick(
    engine: AsyncEngine,
    finance: Finance,
    publish: Publish,
    *,
    retries_max: int,
    events_max: int,
    lock_key: int | None = None,
) -> int:
    """Run one tick; returns how many events were published."""
    async with engine.connect() as probe:
        await probe.execution_options(isolation_level="AUTOCOMMIT")
        if not (await probe.execute(_ANYTHING_TO_DO)).scalar_one():
            return 0
    async with engine.begin() as conn:
        # Several ledgers tick; the transaction-level lock lets one drain the retry queue at a time (a payment
        # attempt is not something to race on). The others go straight to the outbox, which SKIP LOCKED shares.
        locked = lock_key is None or bool(
            (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key})).scalar_one()
        )
        if locked:
            await topups.retry_due(conn, finance, limit=retries_max)
    async with engine.begin() as conn:
        # Rows are taken FOR UPDATE SKIP LOCKED: two leaders for a moment (a rebalance) never publish the same rows
        # at once, nor wait on each other.
        pending = await finance_events.unpublished(conn, events_max)
        if not pending:
            return 0
        await publish([event for _, event in pending])
        await finance_events.mark_published(conn, [outbox_id for outbox_id, _ in pending])
    return len(pending)
