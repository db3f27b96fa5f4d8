"""Webhook endpoints of a workspace: create, change, delete, rotate a secret, redeliver; run by the ledger's
command agent in the command's transaction (the ledger owns the webhook tables).

The finance endpoint of `PUT /api/v1/billing/webhook` is one of them (`billing`, at most one a workspace,
subscribed to the finance events). Deliveries are written with their events (`ledger.webhook_events`) and
POSTed by the dispatcher (`python -m ledger.dispatcher`).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.finance_domain import FinanceInputError
from ledger.webhook_network import NetworkPolicy, check_url
from ledger.webhook_post import SECRET_PREFIX
from ledger.webhook_wakeup import WAKE
from schemas.webhooks import ENDPOINTS_PER_WORKSPACE_MAX, FINANCE_EVENT_TYPES

_COLUMNS = "id, url, event_types, description, enabled, billing, created_at, updated_at, previous_secret_until"


class WebhookNotFound(FinanceInputError):
    """No such endpoint or delivery in this workspace (a 404)."""


class WebhookConflict(FinanceInputError):
    """The request does not fit the endpoint's state (a 409): a redelivery to a disabled endpoint."""


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_endpoint_id() -> str:
    return f"we_{uuid.uuid4().hex[:24]}"


def check_secret(secret: str) -> None:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise FinanceInputError("secret must be whsec_ followed by base64") from exc
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise FinanceInputError("secret must be whsec_ followed by 24-64 bytes in base64")


def endpoint_json(row: Any, **extra: Any) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret, unless given in `extra`)."""
    until = row.previous_secret_until
    return {
        "id": row.id,
        "url": row.url,
        "event_types": list(row.event_types),
        "description": row.description,
        "enabled": row.enabled,
        "billing": row.billing,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "previous_secret_until": until.isoformat() if until is not None else None,
        **extra,
    }


async def create_endpoint(
    conn: AsyncConnection,
    workspace_id: str,
    *,
    url: str,
    event_types: list[str],
    description: str,
    enabled: bool,
    secret: str | None,
    policy: NetworkPolicy,
) -> dict[str, Any]:
    check_url(url, policy)
    _check_description(description)
    secret = secret or new_secret()
    check_secret(secret)
    await _check_room(conn, workspace_id)
    row = (
        await conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, event_types, description, enabled) "
                "VALUES (:id, :ws, :url, :secret, :types, :description, :enabled) "
                "RETURNING id, url, event_types, description, enabled, billing, created_at, updated_at, "
                "previous_secret_until"
            ),
            {
                "id": new_endpoint_id(),
                "ws": workspace_id,
                "url": url,
                "secret": secret,
                "types": sorted(set(event_types)),
                "description": description,
                "enabled": enabled,
            },
        )
    ).one()
    return endpoint_json(row, secret=secret)


async def update_endpoint(
    conn: AsyncConnection, workspace_id: str, endpoint_id: str, changes: dict[str, Any], policy: NetworkPolicy
) -> dict[str, Any]:
    """Apply the given fields (`url`, `event_types`, `description`, `enabled`)."""
    if changes.get("url") is not None:
        check_url(changes["url"], policy)
    if changes.get("description") is not None:
        _check_description(changes["description"])
    types = changes.get("event_types")
    row = (
        await conn.execute(
            text(
                "UPDATE webhook_endpoints SET url = coalesce(:url, url), "
                "event_types = coalesce(CAST(:types AS text[]), event_types), "
                "description = coalesce(:description, description), enabled = coalesce(:enabled, enabled), "
                "updated_at = now() WHERE id = :id AND workspace_id = :ws "
                "RETURNING id, url, event_types, description, enabled, billing, created_at, updated_at, "
                "previous_secret_until"
            ),
            {
                "id": endpoint_id,
                "ws": workspace_id,
                "url": changes.get("url"),
                "types": sorted(set(types)) if types is not None else None,
                "description": changes.get("description"),
                "enabled": changes.get("enabled"),
            },
        )
    ).first()
    if row is None:
        raise WebhookNotFound(f"webhook endpoint {endpoint_id!r} not found")
    if changes.get("enabled") is False:
        await _hold(conn, endpoint_id)
    elif changes.get("enabled") is True:
        await _resume(conn, endpoint_id)
    return endpoint_json(row)


async def _hold(conn: AsyncConnection, endpoint_id: str) -> None:
    """Pausing: the endpoint's pending deliveries wait, unattempted and out of the queue, keeping the attempts made.
    One in flight now still has its outcome recorded (a success delivers it; a failure leaves it held)."""
    await conn.execute(
        text(
            "UPDATE webhook_deliveries SET state = 'held', next_attempt_at = NULL, updated_at = now() "
            "WHERE endpoint_id = :id AND state = 'pending'"
        ),
        {"id": endpoint_id},
    )


async def _resume(conn: AsyncConnection, endpoint_id: str) -> None:
    """Enabling: the held deliveries are due at once, their schedules going on from the attempts already made
    (the time paused does not count against them). The statement wakes the dispatcher (at commit) when it queued
    any."""
    await conn.execute(
        text(
            "WITH queued AS (UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), "  # noqa: S608
            "updated_at = now() WHERE endpoint_id = :id AND state = 'held' RETURNING 1) "
            f"SELECT CASE WHEN EXISTS (SELECT FROM queued) THEN {WAKE} END"
        ),
        {"id": endpoint_id},
    )


async def delete_endpoint(conn: AsyncConnection, workspace_id: str, endpoint_id: str) -> bool:
    """Delete it; its pending and held deliveries end `dead` (there is nowhere to send them). Its log stays
    readable by delivery id, no longer under the endpoint."""
    await conn.execute(
        text(
            "UPDATE webhook_deliveries SET state = 'dead', next_attempt_at = NULL, updated_at = now(), "
            "last_error = 'endpoint removed' WHERE endpoint_id = :id AND workspace_id = :ws "
            "AND state IN ('pending', 'held')"
        ),
        {"id": endpoint_id, "ws": workspace_id},
    )
    removed = await conn.execute(
        text("DELETE FROM webhook_endpoints WHERE id = :id AND workspace_id = :ws"),
        {"id": endpoint_id, "ws": workspace_id},
    )
    return bool(removed.rowcount)


async def rotate_secret(conn: AsyncConnection, workspace_id: str, endpoint_id: str, grace_s: int) -> dict[str, Any]:
    """A new secret signs from now on; the old one signs too (a second signature) for `grace_s` seconds."""
    secret = new_secret()
    row = (
        await conn.execute(
            text(
                "UPDATE webhook_endpoints SET "
                "previous_secret = CASE WHEN :grace_s > 0 THEN secret END, "
                "previous_secret_until = CASE WHEN :grace_s > 0 THEN now() + make_interval(secs => :grace_s) END, "
                "secret = :secret, updated_at = now() "
                "WHERE id = :id AND workspace_id = :ws "
                "RETURNING id, url, event_types, description, enabled, billing, created_at, updated_at, "
                "previous_secret_until"
            ),
            {"id": endpoint_id, "ws": workspace_id, "secret": secret, "grace_s": grace_s},
        )
    ).first()
    if row is None:
        raise WebhookNotFound(f"webhook endpoint {endpoint_id!r} not found")
    return endpoint_json(row, secret=secret)


async def redeliver(conn: AsyncConnection, workspace_id: str, delivery_id: int) -> dict[str, Any]:
    """Queue a delivered or dead delivery again now, its schedule starting over; a pending one stays as it is
    (it may be in flight: moving it would post it twice at once). One whose endpoint is disabled is refused:
    nothing is sent to a paused endpoint (its held deliveries go on when it is enabled)."""
    row = (
        await conn.execute(
            # The same statement wakes the dispatcher (at commit) when it queued the delivery: one row at most.
            text(
                "WITH queued AS (UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), "  # noqa: S608
                "schedule_start = attempts, updated_at = now() WHERE id = :id AND workspace_id = :ws "
                "AND state IN ('delivered', 'dead') "
                "AND EXISTS (SELECT FROM webhook_endpoints e WHERE e.id = endpoint_id AND e.enabled) "
                "RETURNING id, state, next_attempt_at) "
                f"SELECT id, state, next_attempt_at, {WAKE} AS woke FROM queued"
            ),
            {"id": delivery_id, "ws": workspace_id},
        )
    ).first()
    if row is None:
        row = (
            await conn.execute(
                text(
                    "SELECT d.id, d.state, d.next_attempt_at, d.endpoint_id, e.enabled "
                    "FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id "
                    "WHERE d.id = :id AND d.workspace_id = :ws"
                ),
                {"id": delivery_id, "ws": workspace_id},
            )
        ).first()
        if row is None:
            raise WebhookNotFound(f"webhook delivery {delivery_id} not found")
        if row.endpoint_id is None:
            raise FinanceInputError(f"webhook delivery {delivery_id}: its endpoint was deleted")
        if not row.enabled:
            raise WebhookConflict(
                f"webhook delivery {delivery_id}: its endpoint {row.endpoint_id} is disabled; enable it to send "
                "(its held deliveries then go on by themselves)"
            )
    next_at = row.next_attempt_at
    return {"delivery_id": row.id, "state": row.state, "next_attempt_at": next_at.isoformat() if next_at else None}


async def set_billing_endpoint(
    conn: AsyncConnection, workspace_id: str, url: str, secret: str, policy: NetworkPolicy
) -> str:
    """`PUT /api/v1/billing/webhook`: the workspace's finance endpoint, created subscribed to the finance events
    (a later PATCH of its event types is kept when the URL or secret changes)."""
    check_url(url, policy)
    check_secret(secret)
    billing = await conn.execute(
        text("SELECT 1 FROM webhook_endpoints WHERE workspace_id = :ws AND billing"), {"ws": workspace_id}
    )
    if billing.first() is None:
        await _check_room(conn, workspace_id)  # a new endpoint: it counts among the 20
    written = await conn.execute(
        text(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, event_types, billing, description) "
            "VALUES (:id, :ws, :url, :secret, :types, true, 'finance events (PUT /api/v1/billing/webhook)') "
            "ON CONFLICT (workspace_id) WHERE billing "
            "DO UPDATE SET url = :url, secret = :secret, enabled = true, updated_at = now() RETURNING id"
        ),
        {"id": new_endpoint_id(), "ws": workspace_id, "url": url, "secret": secret, "types": list(FINANCE_EVENT_TYPES)},
    )
    endpoint_id = str(written.scalar_one())
    await _resume(conn, endpoint_id)  # setting it enables it: what it held while disabled goes on
    return endpoint_id


async def remove_billing_endpoint(conn: AsyncConnection, workspace_id: str) -> bool:
    """`DELETE /api/v1/billing/webhook`; its pending deliveries end `dead`."""
    found = await conn.execute(
        text("SELECT id FROM webhook_endpoints WHERE workspace_id = :ws AND billing"), {"ws": workspace_id}
    )
    endpoint_id = found.scalar_one_or_none()
    return endpoint_id is not None and await delete_endpoint(conn, workspace_id, endpoint_id)


async def _check_room(conn: AsyncConnection, workspace_id: str) -> None:
    """Refuse a new endpoint past the workspace's limit; the billing endpoint counts as one."""
    count = await conn.execute(
        text("SELECT count(*) FROM webhook_endpoints WHERE workspace_id = :ws"), {"ws": workspace_id}
    )
    if count.scalar_one() >= ENDPOINTS_PER_WORKSPACE_MAX:
        raise FinanceInputError(
            f"a workspace has at most {ENDPOINTS_PER_WORKSPACE_MAX} webhook endpoints, the billing webhook included"
        )


def _check_description(description: str) -> None:
    if not description.isprintable():
        raise FinanceInputError("description: control characters are not accepted")
