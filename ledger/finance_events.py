"""The finance events outbox: written in the transaction that caused an event, published after it commits.

The rows are also the history `GET /api/v1/alerts` and `GET /api/v1/topups` show. A crash between commit
and publish loses nothing: `unpublished` hands the same rows out again, and consumers dedupe on `event_id`.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.webhook_wakeup import WAKE
from schemas.finance import BalanceThresholdCrossed, FinanceEvent, TopupFailed, TopupSucceeded

_TYPES: dict[str, type[FinanceEvent]] = {
    "topup.succeeded": TopupSucceeded,
    "topup.failed": TopupFailed,
    "balance.threshold_crossed": BalanceThresholdCrossed,
}


async def record(conn: AsyncConnection, events: list[FinanceEvent]) -> None:
    if not events:
        return
    await conn.execute(
        # Each event also gets a webhook delivery row, in this transaction, for every endpoint of its workspace
        # subscribed to its type (the `PUT /api/v1/billing/webhook` endpoint is subscribed to all three): pending,
        # or held for a disabled (paused) endpoint until it is enabled again.
        # The same statement wakes the webhook dispatcher, at commit, when it wrote a delivery.
        text(
            "WITH recorded AS (INSERT INTO finance_events (workspace_id, type, payload) "  # noqa: S608
            "SELECT * FROM unnest(CAST(:ws AS text[]), CAST(:types AS text[]), CAST(:payloads AS jsonb[])) "
            "RETURNING id, workspace_id, type, payload, created_at), "
            "written AS (INSERT INTO webhook_deliveries "
            "(endpoint_id, workspace_id, event_id, event_type, payload, occurred_at, state, next_attempt_at) "
            "SELECT e.id, r.workspace_id, coalesce(r.payload->>'event_id', 'fe_' || r.id), r.type, r.payload, "
            "r.created_at, CASE WHEN e.enabled THEN 'pending' ELSE 'held' END, CASE WHEN e.enabled THEN now() END "
            "FROM recorded r JOIN webhook_endpoints e ON e.workspace_id = r.workspace_id "
            "AND r.type = ANY(e.event_types) ON CONFLICT (endpoint_id, event_id) DO NOTHING "
            f"RETURNING 1) SELECT CASE WHEN EXISTS (SELECT FROM written) THEN {WAKE} END"
        ),
        {
            "ws": [event.workspace_id for event in events],
            "types": [event.type for event in events],
            "payloads": [event.model_dump_json() for event in events],
        },
    )


async def unpublished(conn: AsyncConnection, limit: int) -> list[tuple[int, FinanceEvent]]:
    """The oldest events not yet published, with their outbox ids."""
    rows = await conn.execute(
        text(
            "SELECT id, type, payload FROM finance_events WHERE published_at IS NULL ORDER BY id LIMIT :n "
            "FOR UPDATE SKIP LOCKED"
        ),
        {"n": limit},
    )
    return [(row.id, _TYPES[row.type].model_validate(row.payload)) for row in rows]


async def mark_published(conn: AsyncConnection, ids: list[int]) -> None:
    await conn.execute(text("UPDATE finance_events SET published_at = now() WHERE id = ANY(:ids)"), {"ids": ids})
