"""Settlement: debit finished jobs at the answering model's recorded price, release the rest of their holds."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import crossings, debits, pricing, webhook_events
from ledger.topups import Finance
from schemas.catalogue import Catalogue
from schemas.events import JobFinished, UsageRecorded

log = logging.getLogger(__name__)


async def settle(
    conn: AsyncConnection, catalogue: Catalogue, usages: list[UsageRecorded], finance: Finance | None = None
) -> list[JobFinished]:
    """Write the debits (each once) and return the results to deliver after they commit."""
    return results(usages, await settle_in_book(conn, catalogue, usages, finance))


async def settle_in_book(
    conn: AsyncConnection, catalogue: Catalogue, usages: list[UsageRecorded], finance: Finance | None = None
) -> list[debits.SettledJob | None]:
    """Write the debits (each once); each usage's settled job (None: a job the book does not know)."""
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
            first_token_ms=usage.first_token_ms,
            choices=usage.choices,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            system_fingerprint=usage.system_fingerprint,
        )
        for usage in usages
    ]
    workspaces = {usage.workspace_id for usage in usages}
    settled = await debits.settle_batch(conn, workspaces, priced, pricing.LazyCatalogueTerms(catalogue))
    # Alerts and auto top-ups fire in this transaction, under the accounts' locks: once per crossing. Their
    # events land in the finance outbox, which the ledger's finance tick publishes.
    await crossings.after_settlement(conn, settled, finance)
    # Billed before delivered: job.* webhook deliveries commit with the debits (no statement when no job of
    # the batch has a per-request webhook or a workspace subscribed to job events).
    await webhook_events.record_job_events(conn, [job for job in settled if job is not None and not job.replayed])
    for usage, job in zip(usages, settled, strict=True):
        if job is None:
            log.error("usage for unknown job %s in workspace %s ignored", usage.job_id, usage.workspace_id)
    return settled


def results(
    usages: list[UsageRecorded],
    settled: list[debits.SettledJob | None],
    *,
    wanted: Callable[[str], bool] = lambda _: True,
) -> list[JobFinished]:
    """The settled jobs' results to deliver, of the jobs `wanted` (by job id): a batch job's is read from the book,
    so the ledger builds none for it."""
    finished = []
    for usage, job in zip(usages, settled, strict=True):
        if job is None or not wanted(job.job_id):
            continue
        # The settled result as it is, with the usage's trace context: nothing dropped on the way out.
        finished.append(
            JobFinished(
                traceparent=usage.traceparent,
                **job.model_dump(
                    exclude={"replayed", "webhook_endpoint_id", "webhook_job_events", "crossings_watched"}
                ),
            )
        )
    return finished
