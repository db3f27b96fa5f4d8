"""Settlement: debit finished jobs at the answering model's recorded price, release the rest of their holds."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import crossings, debits, pricing
from ledger.topups import Finance
from schemas.catalogue import Catalogue
from schemas.events import JobError, JobFinished, UsageRecorded

log = logging.getLogger(__name__)


async def settle(
    conn: AsyncConnection, catalogue: Catalogue, usages: list[UsageRecorded], finance: Finance | None = None
) -> list[JobFinished]:
    """Write the debits (each once) and return the results to deliver after they commit."""
    priced = [
        debits.Usage(
            job_id=usage.job_id,
            outcome=usage.outcome,
            model_id=usage.model_id,
            provider=usage.provider,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            answer=usage.answer,
            finish_reason=usage.finish_reason,
            error=usage.error.model_dump() if usage.error is not None else None,
            usage_estimated=usage.usage_estimated,
        )
        for usage in usages
    ]
    workspaces = {usage.workspace_id for usage in usages}
    settled = await debits.settle_batch(conn, workspaces, priced, pricing.catalogue_terms(catalogue))
    # Alerts and auto top-ups fire in this transaction, under the accounts' locks: once per crossing. Their
    # events land in the finance outbox, which the ledger's finance tick publishes.
    await crossings.after_settlement(conn, settled, finance)
    results = []
    for usage, job in zip(usages, settled, strict=True):
        if job is None:
            log.error("usage for unknown job %s in workspace %s ignored", usage.job_id, usage.workspace_id)
            continue
        results.append(
            JobFinished(
                workspace_id=job.workspace_id,
                job_id=job.job_id,
                traceparent=usage.traceparent,
                status=job.status if job.status in ("completed", "expired") else "failed",
                model_id=job.model_id,
                provider=job.provider,
                input_tokens=job.input_tokens,
                output_tokens=job.output_tokens,
                answer=job.answer,
                finish_reason=job.finish_reason,
                cost_tokens=job.cost_tokens,
                balance_left=job.balance_left,
                error=JobError.model_validate(job.error) if job.error else None,
                usage_estimated=job.usage_estimated,
            )
        )
    return results
