"""Read-only webhook queries for ingress: a workspace's endpoints (never their secrets), the delivery log with
every attempt, and the endpoint a per-request `webhook` names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.webhooks import endpoint_json

DELIVERIES_PAGE_MAX = 100
_COLUMNS = "id, url, event_types, description, enabled, billing, created_at, updated_at, previous_secret_until"


async def endpoints(conn: AsyncConnection, workspace_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE workspace_id = :ws ORDER BY created_at, id"),  # noqa: S608
        {"ws": workspace_id},
    )
    return [endpoint_json(row) for row in rows]


async def endpoint(conn: AsyncConnection, workspace_id: str, endpoint_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE workspace_id = :ws AND id = :id"),  # noqa: S608
            {"ws": workspace_id, "id": endpoint_id},
        )
    ).first()
    return endpoint_json(row) if row is not None else None


async def resolve(conn: AsyncConnection, workspace_id: str, reference: str) -> str | None:
    """The id of the workspace's enabled endpoint whose id or URL is `reference`, or None."""
    row = (
        await conn.execute(
            text(
                "SELECT id FROM webhook_endpoints WHERE workspace_id = :ws AND enabled AND (id = :ref OR url = :ref) "
                "ORDER BY id = :ref DESC, created_at LIMIT 1"
            ),
            {"ws": workspace_id, "ref": reference},
        )
    ).first()
    return str(row.id) if row is not None else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def deliveries(
    conn: AsyncConnection, workspace_id: str, endpoint_id: str, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the endpoint's deliveries, newest first, each with its attempts; and the next cursor."""
    rows = (
        await conn.execute(
            text(
                "SELECT id, event_id, event_type, state, next_attempt_at, last_error, delivered_at, occurred_at "
                "FROM webhook_deliveries WHERE workspace_id = :ws AND endpoint_id = :endpoint "
                "AND (CAST(:before AS bigint) IS NULL OR id < :before) ORDER BY id DESC LIMIT :n"
            ),
            {"ws": workspace_id, "endpoint": endpoint_id, "before": before_id, "n": limit + 1},
        )
    ).all()
    page = rows[:limit]
    attempts: dict[int, list[dict[str, Any]]] = {row.id: [] for row in page}
    if page:
        for attempt in await conn.execute(
            text(
                "SELECT delivery_id, attempt, started_at, status_code, latency_ms, error FROM webhook_attempts "
                "WHERE delivery_id = ANY(:ids) ORDER BY delivery_id, attempt"
            ),
            {"ids": list(attempts)},
        ):
            attempts[attempt.delivery_id].append(
                {
                    "attempt": attempt.attempt,
                    "started_at": attempt.started_at.isoformat(),
                    "status_code": attempt.status_code,
                    "latency_ms": attempt.latency_ms,
                    "error": attempt.error,
                }
            )
    data = [
        {
            "id": row.id,
            "event_id": row.event_id,
            "type": row.event_type,
            "state": row.state,
            "attempts": attempts[row.id],
            "next_attempt_at": _iso(row.next_attempt_at),
            "last_error": row.last_error,
            "delivered_at": _iso(row.delivered_at),
            "created_at": row.occurred_at.isoformat(),
        }
        for row in page
    ]
    return data, (page[-1].id if len(rows) > limit else None)
