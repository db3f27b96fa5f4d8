"""Expiry: a job still queued past its deadline is settled as `expired` and its hold released in full.

Every accepted job must reach a terminal state. A job whose dispatch was lost, whose pool never ran, or
whose provider never answered would otherwise hold credit forever. The sweep does not touch money itself:
it publishes an `expired` usage event to the job's workspace partition, so the settlement agent (the
workspace's single writer) releases the hold exactly once. If the provider's answer arrives later, the job is
no longer queued and that usage is a replay: nothing is charged for it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.errors import ErrorCode
from schemas.events import JobError, UsageRecorded

_OVERDUE = text(
    "SELECT id, workspace_id FROM jobs WHERE status = 'queued' "
    "AND created_at < now() - make_interval(secs => :deadline_s) ORDER BY created_at LIMIT :limit"
)


async def overdue_jobs(conn: AsyncConnection, *, deadline_s: float, limit: int) -> list[tuple[str, str]]:
    """(job id, workspace id) of jobs queued for longer than the deadline, oldest first."""
    rows = await conn.execute(_OVERDUE, {"deadline_s": deadline_s, "limit": limit})
    return [(row.id, row.workspace_id) for row in rows]


def expiry_of(job_id: str, workspace_id: str, deadline_s: float) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=workspace_id,
        job_id=job_id,
        outcome="expired",
        error=JobError(
            code=ErrorCode.EXPIRED,
            message=f"the job did not finish within {deadline_s:g} s; its hold was released and nothing charged",
        ),
        attempts=0,
    )
