"""Ingress's own batch write besides the ingest: a cancel request, by the workspace or by the operator. Files
uploaded for batches are ingress/batch_files.py's."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_CANCEL = text(
    "UPDATE batches SET cancel_requested_at = now() "
    "WHERE id = :b AND workspace_id = :ws AND cancel_requested_at IS NULL"
)


# The operator's: any workspace's batch. Answers the batch's workspace (no row: no such batch), whether or not the
# cancel was asked before.
_CANCEL_ANY = text(
    """
    WITH asked AS (
        UPDATE batches SET cancel_requested_at = now() WHERE id = :b AND cancel_requested_at IS NULL RETURNING id
    )
    SELECT workspace_id FROM batches WHERE id = :b
    """
)


async def request_cancel(engine: AsyncEngine, workspace_id: str, batch_id: str) -> None:
    """Ask the feeder to stop releasing lines; a second request changes nothing."""
    async with engine.begin() as conn:
        await conn.execute(_CANCEL, {"b": batch_id, "ws": workspace_id})


async def request_cancel_any(engine: AsyncEngine, batch_id: str) -> str | None:
    """The operator's cancel of any workspace's batch (one of a suspended workspace too), the same request as the
    workspace's own; returns the batch's workspace, None when there is no such batch."""
    async with engine.begin() as conn:
        workspace_id: str | None = (await conn.execute(_CANCEL_ANY, {"b": batch_id})).scalar_one_or_none()
    return workspace_id
