"""Ingress's own batch write besides the ingest: a cancel request. Files uploaded for batches are
ingress/batch_files.py's."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_CANCEL = text(
    "UPDATE batches SET cancel_requested_at = now() "
    "WHERE id = :b AND workspace_id = :ws AND cancel_requested_at IS NULL"
)


async def request_cancel(engine: AsyncEngine, workspace_id: str, batch_id: str) -> None:
    """Ask the feeder to stop releasing lines; a second request changes nothing."""
    async with engine.begin() as conn:
        await conn.execute(_CANCEL, {"b": batch_id, "ws": workspace_id})
