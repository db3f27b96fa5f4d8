"""Admission: hold credit for submitted jobs, then dispatch them; or refuse them with 'Insufficient credits'."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import holds, pricing
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, ChatJobSubmitted, JobError, JobFinished

Outcome = tuple[str, ChatJobDispatched] | JobFinished | None


async def admit(conn: AsyncConnection, catalogue: Catalogue, jobs: list[ChatJobSubmitted]) -> list[Outcome]:
    """Write the holds (or refusals) and return, per job, what to publish once they commit: a dispatch, the
    refusal, or nothing for a replayed job that has already finished (its result went out at settlement)."""
    requests = [
        holds.HoldRequest(
            job_id=job.job_id,
            workspace_id=job.workspace_id,
            api_key_id=job.api_key_id,
            model_id=job.model_id,
            hold=pricing.hold_for(catalogue, job),
            tags=job.params.tags,
        )
        for job in jobs
    ]
    admissions = await holds.admit_batch(conn, requests)
    return [_next_step(catalogue, job, admission) for job, admission in zip(jobs, admissions, strict=True)]


def _next_step(catalogue: Catalogue, job: ChatJobSubmitted, admission: holds.Admission) -> Outcome:
    if admission.replayed and admission.status not in ("queued", "rejected"):
        return None
    if not admission.admitted:
        return JobFinished(
            workspace_id=job.workspace_id,
            job_id=job.job_id,
            traceparent=job.traceparent,
            status="rejected",
            model_id=job.model_id,
            balance_left=admission.balance_left,
            error=JobError(code=ErrorCode.INSUFFICIENT_CREDITS, message="Insufficient credits"),
        )
    pool = catalogue.get(job.model_id).pool
    dispatch = ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=admission.hold_tokens,
        params=job.params,
    )
    return topics.dispatch_topic(pool, topics.Lane(job.lane)), dispatch
