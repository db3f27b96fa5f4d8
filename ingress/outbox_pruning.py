"""Prunes what the ingress keeps only for a while: idempotency keys past their window, and outbox rows of jobs
the ledger has recorded, once as old.

Without it both tables grow with every keyed or asynchronous request, forever. A key past
`idempotency_window_s` no longer protects anything (a retry after it is a new request by definition), and an
outbox row whose job the ledger has recorded (its event already dropped) is only a fallback for polling a job
the ledger has not reached: once that old, the ledger's own record answers. Rows of jobs not yet recorded are
never touched. One ingress at a time prunes (an advisory lock), a bounded batch per statement, so a backlog
drains over a few rounds without long locks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

PRUNE_LOCK_ID = 0x4C55_4E54_5200_0007

_PRUNE_KEYS = text(
    """
    DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :age_s) LIMIT :n))
    """
)
_PRUNE_RECORDED = text(
    """
    DELETE FROM accepted_jobs WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM accepted_jobs
        WHERE event IS NULL AND created_at < now() - make_interval(secs => :age_s) LIMIT :n))
    """
)


@dataclass(frozen=True, slots=True)
class Pruned:
    idempotency_keys: int
    outbox_rows: int


async def prune_once(engine: AsyncEngine, *, age_s: float, batch_max: int) -> Pruned | None:
    """Delete up to `batch_max` of each kind older than `age_s`; None when another ingress holds the lock."""
    async with engine.begin() as conn:
        locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PRUNE_LOCK_ID})
        if not locked:
            return None
        keys = await conn.execute(_PRUNE_KEYS, {"age_s": age_s, "n": batch_max})
        rows = await conn.execute(_PRUNE_RECORDED, {"age_s": age_s, "n": batch_max})
    return Pruned(idempotency_keys=keys.rowcount, outbox_rows=rows.rowcount)
