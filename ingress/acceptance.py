"""Records jobs answered with 202 (ingress owns `accepted_jobs`), so a poll finds them before the ledger does."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def record_accepted(engine: AsyncEngine, *, job_id: str, workspace_id: str, model_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO accepted_jobs (job_id, workspace_id, model_id) VALUES (:job, :ws, :model) "
                "ON CONFLICT (job_id) DO NOTHING"
            ),
            {"job": job_id, "ws": workspace_id, "model": model_id},
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
