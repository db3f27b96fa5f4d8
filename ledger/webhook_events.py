"""Records webhook events for delivery, in the caller's transaction: one delivery row per (event, endpoint
subscribed to its type, or named by the event), written by one set-based statement. An endpoint that is disabled
(paused) gets its row `held`, queued when it is enabled again.

The dispatcher (`python -m ledger.dispatcher`) POSTs the rows after the transaction commits, so an event is
delivered only if what caused it committed (billed before delivered), and at least once. The statement that
writes rows also notifies the dispatcher (`ledger.webhook_wakeup`), which hears it at commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.debits import SettledJob
from ledger.webhook_wakeup import WAKE
from schemas.results import JobResult
from schemas.webhooks import JOB_COMPLETED, JOB_FAILED


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    workspace_id: str
    event_type: str
    # The `webhook-id` receivers dedupe on: the same event recorded twice is delivered once per endpoint.
    event_id: str
    data: dict[str, Any]
    # An endpoint that gets this event whatever its subscriptions (a per-request webhook), or None.
    endpoint_id: str | None = None
    occurred_at: datetime | None = None


# The same statement wakes the dispatcher when it wrote a row (at commit): no second statement, and none of the
# notify's cost when every event was a duplicate or had no endpoint.
_RECORD = text(
    f"""
    WITH written AS (
        INSERT INTO webhook_deliveries (endpoint_id, workspace_id, event_id, event_type, payload, occurred_at, state,
                                        next_attempt_at)
        SELECT e.id, u.ws, u.event_id, u.type, u.payload, coalesce(u.occurred_at, now()),
               CASE WHEN e.enabled THEN 'pending' ELSE 'held' END, CASE WHEN e.enabled THEN now() END
        FROM unnest(CAST(:ws AS text[]), CAST(:event_ids AS text[]), CAST(:types AS text[]),
                    CAST(:payloads AS jsonb[]), CAST(:endpoints AS text[]), CAST(:times AS timestamptz[]))
             AS u(ws, event_id, type, payload, endpoint, occurred_at)
        JOIN webhook_endpoints e ON e.workspace_id = u.ws AND (u.type = ANY(e.event_types) OR e.id = u.endpoint)
        ON CONFLICT (endpoint_id, event_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) AS written, CASE WHEN count(*) > 0 THEN {WAKE} END AS woke FROM written
    """  # noqa: S608
)


async def record_webhook_events(conn: AsyncConnection, events: Sequence[WebhookEvent]) -> int:
    """Record events for delivery in the caller's transaction; returns how many deliveries were written."""
    if not events:
        return 0
    result = await conn.execute(
        _RECORD,
        {
            "ws": [event.workspace_id for event in events],
            "event_ids": [event.event_id for event in events],
            "types": [event.event_type for event in events],
            "payloads": [json.dumps(event.data, separators=(",", ":")) for event in events],
            "endpoints": [event.endpoint_id for event in events],
            "times": [event.occurred_at for event in events],
        },
    )
    return int(result.one().written)


async def record_webhook_event(
    conn: AsyncConnection, *, workspace_id: str, event_type: str, event_id: str, data: dict[str, Any]
) -> int:
    """One event (`batch.completed`, say) for every endpoint of the workspace subscribed to its type (held for a
    disabled one),
    in the caller's transaction; returns how many deliveries were written (0: nobody subscribes)."""
    return await record_webhook_events(conn, [WebhookEvent(workspace_id, event_type, event_id, data)])


def job_event(job: JobResult, endpoint_id: str | None) -> WebhookEvent:
    """A settled job's job.completed / job.failed: its result, with the balance after its debit."""
    data = {
        "job_id": job.job_id,
        "workspace_id": job.workspace_id,
        "status": job.status,
        "model": job.model_id,
        "provider": job.provider,
        "answer": job.answer,
        "finish_reason": job.finish_reason,
        "usage": job.usage_counts(),
        "usage_estimated": job.usage_estimated,
        "cost_tokens": job.cost_tokens,
        "balance_left": job.balance_left,
        "error": job.error.model_dump(mode="json") if job.error is not None else None,
    }
    event_type = JOB_COMPLETED if job.status == "completed" else JOB_FAILED
    return WebhookEvent(job.workspace_id, event_type, f"evt_{job.job_id}", data, endpoint_id)


async def record_job_events(conn: AsyncConnection, settled: Sequence[SettledJob]) -> int:
    """job.* events of freshly settled jobs that have somewhere to go: no statement at all when none has."""
    wanted = [job for job in settled if job.webhook_endpoint_id is not None or job.webhook_job_events]
    return await record_webhook_events(conn, [job_event(job, job.webhook_endpoint_id) for job in wanted])
