"""Result retention: batches finished longer ago than the retention (or than their own `output_expires_after`, when
sooner) are deleted with their lines and feeds, and their jobs' answers cleared. The jobs' money records (status,
usage, cost, journal) are never touched."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Past the retention, or past the batch's own `output_expires_after` (OpenAI's, when its creator set one: migration
# 0029), whichever comes first.
_EXPIRED = text(
    """
    SELECT batch_id FROM (
        (SELECT batch_id, finished_at FROM batch_feeds WHERE finished_at IS NOT NULL AND finished_at < :before
         ORDER BY finished_at LIMIT :limit)
        UNION
        (SELECT f.batch_id, f.finished_at FROM batches b JOIN batch_feeds f ON f.batch_id = b.id
         WHERE b.output_expires_after_s IS NOT NULL AND f.finished_at IS NOT NULL
             AND f.finished_at + make_interval(secs => b.output_expires_after_s) < :now
         ORDER BY f.finished_at LIMIT :limit)
    ) AS due ORDER BY finished_at LIMIT :limit
    """
)
_CLEAR_ANSWERS = text(
    "UPDATE jobs SET answer = NULL FROM batch_lines l "
    "WHERE l.batch_id = :b AND jobs.id = l.job_id AND jobs.answer IS NOT NULL"
)
_DELETE_BATCH = text("DELETE FROM batches WHERE id = :b")


async def prune(engine: AsyncEngine, *, retention_days: float, now: datetime, batches_max: int) -> list[str]:
    """Prune up to `batches_max` batches past their retention; returns their ids."""
    before = now - timedelta(days=retention_days)
    async with engine.begin() as conn:
        ids = [
            row.batch_id for row in await conn.execute(_EXPIRED, {"before": before, "now": now, "limit": batches_max})
        ]
        for batch_id in ids:
            await conn.execute(_CLEAR_ANSWERS, {"b": batch_id})
            await conn.execute(_DELETE_BATCH, {"b": batch_id})
    return ids
