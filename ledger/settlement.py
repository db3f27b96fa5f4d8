"""Settlement: debit a finished job at the answering model's price, release the rest of its hold."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import pricing, repository
from schemas.catalogue import Catalogue
from schemas.events import JobError, JobFinished, UsageRecorded

log = logging.getLogger(__name__)


async def settle(conn: AsyncConnection, catalogue: Catalogue, usage: UsageRecorded) -> JobFinished | None:
    """Write the debit (once) and return the result to deliver after it commits; None for a job the ledger
    never admitted."""
    error = usage.error.model_dump() if usage.error is not None else None
    priced = repository.Usage(
        job_id=usage.job_id,
        completed=usage.outcome == "completed",
        model_id=usage.model_id,
        provider=usage.provider,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        priced_cost=pricing.cost_of(catalogue, usage),
        answer=usage.answer,
        finish_reason=usage.finish_reason,
        error=error,
    )
    settled = await repository.settle(conn, priced)
    if settled is None:
        log.error("usage for unknown job %s in workspace %s ignored", usage.job_id, usage.workspace_id)
        return None
    return JobFinished(
        workspace_id=settled.workspace_id,
        job_id=settled.job_id,
        traceparent=usage.traceparent,
        status="completed" if settled.status == "completed" else "failed",
        model_id=settled.model_id,
        provider=settled.provider,
        input_tokens=settled.input_tokens,
        output_tokens=settled.output_tokens,
        answer=settled.answer,
        finish_reason=settled.finish_reason,
        cost_tokens=settled.cost_tokens,
        balance_left=settled.balance_left,
        error=JobError.model_validate(settled.error) if settled.error else None,
    )
