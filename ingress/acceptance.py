"""The outbox of accepted jobs (ingress owns `accepted_jobs`): every job a caller may have been told about.

A row is written before the job's event is published when the answer depends on it (an `Idempotency-Key`
claim, `Prefer: respond-async`), or after, when a sync wait ends with a 202. It keeps the encoded event until
the broker acknowledges it, so the relay can publish it again; a poll finds the job before the ledger does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True, slots=True)
class Unpublished:
    job_id: str
    workspace_id: str
    event: bytes


async def record(conn: AsyncConnection, *, job_id: str, workspace_id: str, model_id: str, event: bytes | None) -> None:
    """Record an accepted job; `event` is None when the broker has already acknowledged it."""
    await conn.execute(
        text(
            "INSERT INTO accepted_jobs (job_id, workspace_id, model_id, event, published_at) "
            "VALUES (:job, :ws, :model, :event, CASE WHEN CAST(:event AS bytea) IS NULL THEN now() END) "
            "ON CONFLICT (job_id) DO NOTHING"
        ),
        {"job": job_id, "ws": workspace_id, "model": model_id, "event": event},
    )


async def discard(conn: AsyncConnection, job_id: str) -> None:
    """Forget a job whose publication failed before anything reached the broker (its caller is told 503)."""
    await conn.execute(text("DELETE FROM accepted_jobs WHERE job_id = :job AND published_at IS NULL"), {"job": job_id})


async def mark_published(conn: AsyncConnection, job_ids: Sequence[str]) -> None:
    """The broker has these jobs (or the ledger recorded them): nothing left to relay, drop the event bytes."""
    if job_ids:
        await conn.execute(
            text(
                "UPDATE accepted_jobs SET published_at = now(), event = NULL "
                "WHERE job_id = ANY(:ids) AND published_at IS NULL"
            ),
            {"ids": list(job_ids)},
        )


async def unpublished(conn: AsyncConnection, *, older_than_s: float, limit: int) -> list[Unpublished]:
    """Jobs whose publication has not been confirmed for `older_than_s`, oldest first."""
    rows = await conn.execute(
        text(
            "SELECT job_id, workspace_id, event FROM accepted_jobs WHERE published_at IS NULL "
            "AND created_at < now() - make_interval(secs => :older_than_s) ORDER BY created_at LIMIT :limit"
        ),
        {"older_than_s": older_than_s, "limit": limit},
    )
    return [Unpublished(row.job_id, row.workspace_id, bytes(row.event)) for row in rows]


async def count_relayed(conn: AsyncConnection, job_ids: Sequence[str]) -> None:
    if job_ids:
        await conn.execute(
            text("UPDATE accepted_jobs SET relay_attempts = relay_attempts + 1 WHERE job_id = ANY(:ids)"),
            {"ids": list(job_ids)},
        )


async def accepted_model(engine: AsyncEngine, *, job_id: str, workspace_id: str) -> str | None:
    """The model of an accepted job of this workspace, or None if it never was accepted here."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT model_id FROM accepted_jobs WHERE job_id = :job AND workspace_id = :ws"),
                {"job": job_id, "ws": workspace_id},
            )
        ).first()
    return row.model_id if row is not None else None
