"""Admission: hold credit for a submitted job, then dispatch it; or refuse it with 'Insufficient credits'."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import pricing, repository
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, ChatJobSubmitted, JobError, JobFinished


async def admit(
    conn: AsyncConnection, catalogue: Catalogue, job: ChatJobSubmitted
) -> tuple[str, ChatJobDispatched] | JobFinished | None:
    """Write the hold (or the refusal) and return what to publish once it commits: a dispatch, the
    refusal, or nothing for a replayed job that has already finished (its result went out at settlement)."""
    hold = pricing.hold_for(catalogue, job)
    admission = await repository.admit(
        conn, job_id=job.job_id, workspace_id=job.workspace_id, api_key_id=job.api_key_id,
        model_id=job.model_id, hold=hold, tags=job.params.tags,
    )
    if admission.replayed and admission.status not in ("queued", "rejected"):
        return None
    if not admission.admitted:
        return JobFinished(
            workspace_id=job.workspace_id, job_id=job.job_id, traceparent=job.traceparent,
            status="rejected", model_id=job.model_id, balance_left=admission.balance_left,
            error=JobError(code=ErrorCode.INSUFFICIENT_CREDITS, message="Insufficient credits"),
        )
    pool = catalogue.get(job.model_id).pool
    dispatch = ChatJobDispatched(
        workspace_id=job.workspace_id, job_id=job.job_id, traceparent=job.traceparent,
        model_id=job.model_id, route=job.route, hold_tokens=admission.hold_tokens, params=job.params,
    )
    return topics.dispatch_topic(pool, topics.Lane(job.lane)), dispatch
