"""Expiry: a job still queued past its deadline is settled as `expired` and its hold released in full.

Every accepted job must reach a terminal state. A job whose dispatch was lost, whose pool never ran, or
whose provider never answered would otherwise hold credit forever. The sweep does not touch money itself:
it publishes an `expired` usage event to the job's workspace partition, so the settlement agent (the
workspace's single writer) releases the hold exactly once. If the provider's answer arrives later, the job is
no longer queued and that usage is a replay: nothing is charged for it.

Every ledger instance runs the sweep on a timer; a transaction-scoped PostgreSQL advisory lock lets one
instance at a time through, so any deployment (one instance or many, any leader) expires jobs, and a
sweep that overlaps another's publishes nothing twice in the same moment (a repeat later is harmless).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.errors import ErrorCode
from schemas.events import JobError, UsageRecorded

# Jobs admitted before deadlines were recorded have none: they fall back to their age.
_OVERDUE = text(
    """
    SELECT id, workspace_id FROM jobs
    WHERE status = 'queued' AND (
        deadline_at < now()
        OR (deadline_at IS NULL AND created_at < now() - make_interval(secs => :default_deadline_s)))
    ORDER BY coalesce(deadline_at, created_at) LIMIT :limit
    """
)

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


def sweep_lock_key(app_id: str) -> int:
    """A stable signed 64-bit advisory-lock key per ledger app (instances of one app share it)."""
    return int.from_bytes(hashlib.sha256(f"luntrex expiry sweep {app_id}".encode()).digest()[:8], "big", signed=True)


async def try_lock_sweep(conn: AsyncConnection, lock_key: int) -> bool:
    """Take the sweep lock for the current transaction, or return False if another instance holds it."""
    return bool((await conn.execute(_TRY_LOCK, {"key": lock_key})).scalar_one())


async def overdue_jobs(conn: AsyncConnection, *, default_deadline_s: float, limit: int) -> list[tuple[str, str]]:
    """(job id, workspace id) of jobs still queued past their deadline, most overdue first."""
    rows = await conn.execute(_OVERDUE, {"default_deadline_s": default_deadline_s, "limit": limit})
    return [(row.id, row.workspace_id) for row in rows]


def expiry_of(job_id: str, workspace_id: str) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=workspace_id,
        job_id=job_id,
        outcome="expired",
        error=JobError(
            code=ErrorCode.EXPIRED,
            message="the job did not finish by its deadline; its hold was released and nothing charged",
        ),
        attempts=0,
    )
