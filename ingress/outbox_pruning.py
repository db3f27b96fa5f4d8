"""Prunes what the ingress keeps only for a while: idempotency keys past their window, outbox rows of jobs the
ledger has recorded, once as old, and uploaded files past the expiry their upload asked for (already gone to every
read: `ingress/batch_files.py`).

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

# Files per round: each takes its chunks with it (up to the upload limit), so a few at a time.
EXPIRED_FILES_PER_ROUND = 8
_PRUNE_EXPIRED_FILES = text(
    """
    DELETE FROM batch_files WHERE id = ANY(ARRAY(
        SELECT id FROM batch_files WHERE expires_at <= now() ORDER BY expires_at LIMIT :n))
    """
)


@dataclass(frozen=True, slots=True)
class Pruned:
    idempotency_keys: int
    outbox_rows: int
    expired_files: int = 0


async def prune_once(engine: AsyncEngine, *, age_s: float, batch_max: int) -> Pruned | None:
    """Delete up to `batch_max` of each kind older than `age_s`; None when another ingress holds the lock."""
    async with engine.begin() as conn:
        locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PRUNE_LOCK_ID})
        if not locked:
            return None
        keys = await conn.execute(_PRUNE_KEYS, {"age_s": age_s, "n": batch_max})
        rows = await conn.execute(_PRUNE_RECORDED, {"age_s": age_s, "n": batch_max})
        files = await conn.execute(_PRUNE_EXPIRED_FILES, {"n": EXPIRED_FILES_PER_ROUND})
    return Pruned(idempotency_keys=keys.rowcount, outbox_rows=rows.rowcount, expired_files=files.rowcount)
