"""Ends the job of an event the ledger refused: one terminal state, its hold released, its caller answered.

A refused submission is recorded `rejected` with the refusal's code (no hold was taken); if the job was
admitted after all (it was refused later, on the way out), it is settled `failed` instead. A refused usage
report settles its job `failed`: the hold is released and nothing is charged. Both go through the normal
writers (admission's jobs row, settlement's `settle`), so every rule and idempotency key still applies; a job
that already reached a terminal state is only announced again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import settlement, webhook_events
from ledger.refusals import Refusal
from runtime.consume import job_identity
from schemas.catalogue import Catalogue
from schemas.events import JobError, JobFinished, UsageRecorded

_RECORD_REJECTED = text(
    """
    INSERT INTO jobs (id, workspace_id, api_key_id, model_id, status, hold_tokens, tags, error, finished_at,
                      balance_left)
    SELECT :id, w.id, :key, :model, 'rejected', 0, '{}', CAST(:error AS jsonb), now(),
           (SELECT CAST(coalesce(sum(a.balance), 0) AS bigint) FROM ledger_accounts a
            WHERE a.workspace_id = w.id AND a.kind IN ('available', 'held'))
    FROM workspaces w WHERE w.id = :ws
    ON CONFLICT (id) DO NOTHING
    RETURNING balance_left
    """
)

_EXISTS = text("SELECT 1 FROM jobs WHERE id = :id AND workspace_id = :ws")


@dataclass(frozen=True, slots=True)
class Identity:
    """What can be read from a refused event that may not decode: enough to find and answer its job."""

    job_id: str
    workspace_id: str
    api_key_id: str
    model_id: str
    traceparent: str | None
    # The per-request endpoint the submission named, when it can still be read.
    webhook_endpoint_id: str | None = None


def identity_of(payload: bytes | None) -> Identity | None:
    job_id, workspace_id = job_identity(payload)
    if job_id is None or workspace_id is None or payload is None:
        return None
    document = json.loads(payload)
    return Identity(
        job_id=job_id,
        workspace_id=workspace_id,
        api_key_id=_text(document.get("api_key_id")) or "unknown",
        model_id=_text(document.get("model_id")) or "unknown",
        traceparent=_text(document.get("traceparent")),
        webhook_endpoint_id=_text(document.get("webhook_endpoint_id")),
    )


def _text(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
        return value
    return None


async def end_submitted(
    conn: AsyncConnection, catalogue: Catalogue, identity: Identity, refusal: Refusal
) -> JobFinished | None:
    """Record the refused job `rejected`, or settle it `failed` if it was admitted; None if it has no workspace."""
    inserted = (
        await conn.execute(
            _RECORD_REJECTED,
            {
                "id": identity.job_id,
                "ws": identity.workspace_id,
                "key": identity.api_key_id,
                "model": identity.model_id,
                "error": json.dumps(_error(refusal).model_dump()),
            },
        )
    ).first()
    if inserted is not None:
        rejected = JobFinished(
            workspace_id=identity.workspace_id,
            job_id=identity.job_id,
            traceparent=identity.traceparent,
            status="rejected",
            model_id=identity.model_id,
            balance_left=inserted.balance_left,
            error=_error(refusal),
        )
        # Its job.failed, as for any job admission refuses: a webhook caller hears of every terminal state.
        await webhook_events.record_webhook_events(
            conn, [webhook_events.job_event(rejected, identity.webhook_endpoint_id)]
        )
        return rejected
    return await end_usage(conn, catalogue, identity, refusal)


async def end_usage(
    conn: AsyncConnection, catalogue: Catalogue, identity: Identity, refusal: Refusal
) -> JobFinished | None:
    """Settle the job `failed` (hold released, nothing charged); an already finished job is announced again."""
    if (await conn.execute(_EXISTS, {"id": identity.job_id, "ws": identity.workspace_id})).first() is None:
        return None
    failed = UsageRecorded(
        workspace_id=identity.workspace_id,
        job_id=identity.job_id,
        traceparent=identity.traceparent,
        outcome="failed",
        error=_error(refusal),
        attempts=0,
    )
    finished = await settlement.settle(conn, catalogue, [failed])
    return finished[0] if finished else None


def _error(refusal: Refusal) -> JobError:
    return JobError(code=refusal.code, message=refusal.message)


def without_answer(finished: JobFinished, refusal: Refusal) -> JobFinished:
    """The announcement of a finished job whose stored answer is too large to send again: the rest of it."""
    return finished.model_copy(update={"answer": None, "error": finished.error or _error(refusal)})
