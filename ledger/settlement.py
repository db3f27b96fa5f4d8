"""Settlement: debit finished jobs at the answering model's recorded price, release the rest of their holds."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import crossings, debits, pricing
from ledger.topups import Finance
from schemas.catalogue import Catalogue
from schemas.events import JobFinished, UsageRecorded

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
            attempts=usage.attempts,
        )
        for usage in usages
    ]
    workspaces = {usage.workspace_id for usage in usages}
    settled = await debits.settle_batch(conn, workspaces, priced, pricing.LazyCatalogueTerms(catalogue))
    # Alerts and auto top-ups fire in this transaction, under the accounts' locks: once per crossing. Their
    # events land in the finance outbox, which the ledger's finance tick publishes.
    await crossings.after_settlement(conn, settled, finance)
    results = []
    for usage, job in zip(usages, settled, strict=True):
        if job is None:
            log.error("usage for unknown job %s in workspace %s ignored", usage.job_id, usage.workspace_id)
            continue
        # The settled result as it is, with the usage's trace context: nothing dropped on the way out.
        results.append(JobFinished(traceparent=usage.traceparent, **job.model_dump(exclude={"replayed"})))
    return results
