"""The outbox of accepted jobs (ingress owns `accepted_jobs`): every job a caller may have been told about.

A row is written before the job's event is published when the answer depends on it (an `Idempotency-Key`
claim, `Prefer: respond-async`), or after, when a sync wait ends with a 202. A row moves through three
states: unpublished (`published_at` NULL), acknowledged by the broker (`published_at` set), recorded by the
ledger (`event` NULL). It keeps the encoded event until the ledger has recorded the job, so the relay can
publish it again; a poll finds the job before the ledger does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """An outboxed job the ledger has not recorded yet."""

    job_id: str
    workspace_id: str
    event: bytes
    acknowledged: bool
    deadline_at: datetime | None


async def record(
    conn: AsyncConnection,
    *,
    job_id: str,
    workspace_id: str,
    model_id: str,
    event: bytes,
    deadline_at: datetime | None,
    acknowledged: bool,
) -> None:
    """Record an accepted job with its event; `acknowledged` when the broker already has it."""
    await conn.execute(
        text(
            "INSERT INTO accepted_jobs (job_id, workspace_id, model_id, event, deadline_at, published_at) "
            "VALUES (:job, :ws, :model, :event, :deadline_at, CASE WHEN :acknowledged THEN now() END) "
            "ON CONFLICT (job_id) DO NOTHING"
        ),
        {
            "job": job_id,
            "ws": workspace_id,
            "model": model_id,
            "event": event,
            "deadline_at": deadline_at,
            "acknowledged": acknowledged,
        },
    )


async def discard(conn: AsyncConnection, job_id: str) -> None:
    """Forget a job whose publication failed before anything reached the broker (its caller is told 503)."""
    await conn.execute(text("DELETE FROM accepted_jobs WHERE job_id = :job AND published_at IS NULL"), {"job": job_id})


async def mark_acknowledged(conn: AsyncConnection, job_ids: Sequence[str]) -> None:
    """The broker has these jobs: the relay leaves them to the ledger until their deadline."""
    if job_ids:
        await conn.execute(
            text("UPDATE accepted_jobs SET published_at = now() WHERE job_id = ANY(:ids) AND event IS NOT NULL"),
            {"ids": list(job_ids)},
        )


async def mark_recorded(conn: AsyncConnection, job_ids: Sequence[str]) -> None:
    """The ledger has recorded these jobs: nothing is left to relay, so the event bytes go."""
    if job_ids:
        await conn.execute(
            text(
                "UPDATE accepted_jobs SET published_at = coalesce(published_at, now()), event = NULL "
                "WHERE job_id = ANY(:ids) AND event IS NOT NULL"
            ),
            {"ids": list(job_ids)},
        )


_UNRECORDED = """
    SELECT job_id, workspace_id, event, published_at IS NOT NULL AS acknowledged, deadline_at FROM accepted_jobs
    WHERE {state} AND relay_attempts < :attempts_max ORDER BY {order} LIMIT :limit
"""
_UNPUBLISHED = text(
    _UNRECORDED.format(
        state="published_at IS NULL AND created_at < now() - make_interval(secs => :older_than_s)", order="created_at"
    )
)
_ACKNOWLEDGED = text(
    _UNRECORDED.format(
        state="published_at IS NOT NULL AND event IS NOT NULL "
        "AND published_at < now() - make_interval(secs => :older_than_s)",
        order="published_at",
    )
)


async def unrecorded(conn: AsyncConnection, *, older_than_s: float, attempts_max: int, limit: int) -> list[Unrecorded]:
    """Jobs unacknowledged for `older_than_s`, then jobs acknowledged that long ago but not known recorded."""
    found: list[Unrecorded] = []
    for query in (_UNPUBLISHED, _ACKNOWLEDGED):
        rows = await conn.execute(
            query, {"older_than_s": older_than_s, "attempts_max": attempts_max, "limit": limit - len(found)}
        )
        found += [
            Unrecorded(row.job_id, row.workspace_id, bytes(row.event), row.acknowledged, row.deadline_at)
            for row in rows
        ]
    return found


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
