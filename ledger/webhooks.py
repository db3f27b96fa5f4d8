"""Delivers finance events to each workspace's webhook as signed POSTs (Standard Webhooks), with finite retries.

A delivery row is written with its event (`finance_events.record`). The ledger's webhook timer calls
`deliver_due`: it claims due rows (SKIP LOCKED, and a lease in `next_attempt_at` so another ledger does not
post the same one meanwhile), commits, posts them concurrently with a timeout, then records each outcome:
delivered, retried after the next delay of the schedule, or failed once the schedule is spent. No database
transaction is open during a POST, and settlement never waits for one: a slow receiver only delays the next
webhook tick. Delivery is at least once; receivers dedupe on `webhook-id` (the event's id).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.finance_domain import FinanceInputError

URL_LENGTH_MAX = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
ERROR_LENGTH_MAX = 500


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    # Delays before retry 1, 2, ...: len(retry_delays_s) + 1 attempts in all, then the delivery is `failed`.
    retry_delays_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 3600.0)
    timeout_s: float = 5.0
    batch_max: int = 50


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_endpoint(url: str, secret: str) -> None:
    if not url.startswith(("http://", "https://")) or not 8 <= len(url) <= URL_LENGTH_MAX:
        raise FinanceInputError(f"url must be an http:// or https:// URL of at most {URL_LENGTH_MAX} characters")
    if not url.isprintable() or not url.isascii() or " " in url:
        raise FinanceInputError("url must be printable ASCII without spaces")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError as exc:
        raise FinanceInputError("secret must be whsec_ followed by base64") from exc
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise FinanceInputError("secret must be whsec_ followed by 24-64 bytes in base64")


async def set_endpoint(conn: AsyncConnection, workspace_id: str, url: str, secret: str) -> None:
    check_endpoint(url, secret)
    await conn.execute(
        text(
            "INSERT INTO webhook_endpoints (workspace_id, url, secret) VALUES (:ws, :url, :secret) "
            "ON CONFLICT (workspace_id) DO UPDATE SET url = :url, secret = :secret, updated_at = now()"
        ),
        {"ws": workspace_id, "url": url, "secret": secret},
    )


async def remove_endpoint(conn: AsyncConnection, workspace_id: str) -> bool:
    """Remove the endpoint; deliveries still pending end `failed` (there is nowhere to send them)."""
    await conn.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = now(), "
            "last_error = 'endpoint removed' WHERE workspace_id = :ws AND status = 'pending'"
        ),
        {"ws": workspace_id},
    )
    removed = await conn.execute(text("DELETE FROM webhook_endpoints WHERE workspace_id = :ws"), {"ws": workspace_id})
    return bool(removed.rowcount)


def sign(secret: str, message_id: str, timestamp_s: int, body: bytes) -> str:
    """The `webhook-signature` header value: v1, HMAC-SHA256 of `id.timestamp.body` under the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True, slots=True)
class _Due:
    event_id: int
    attempt: int
    url: str | None
    secret: str | None
    type: str
    payload: dict[str, Any]


_CLAIM = text(
    "SELECT d.event_id, d.attempts, e.type, e.payload, w.url, w.secret FROM webhook_deliveries d "
    "JOIN finance_events e ON e.id = d.event_id LEFT JOIN webhook_endpoints w ON w.workspace_id = d.workspace_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= now() ORDER BY d.next_attempt_at LIMIT :n "
    "FOR UPDATE OF d SKIP LOCKED"
)


async def _claim(engine: AsyncEngine, policy: WebhookPolicy) -> list[_Due]:
    async with engine.begin() as conn:
        rows = (await conn.execute(_CLAIM, {"n": policy.batch_max})).all()
        if rows:
            # The lease: while attempts run, nobody else finds these rows due.
            await conn.execute(
                text(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = now(), "
                    "next_attempt_at = now() + make_interval(secs => :lease_s) WHERE event_id = ANY(:ids)"
                ),
                {"ids": [row.event_id for row in rows], "lease_s": policy.timeout_s * 2 + 5},
            )
    return [_Due(row.event_id, row.attempts + 1, row.url, row.secret, row.type, row.payload) for row in rows]


async def _post(http: httpx.AsyncClient, due: _Due, timeout_s: float) -> str | None:
    """One attempt; None when the receiver took it (2xx), else why not."""
    if due.url is None or due.secret is None:
        return "endpoint removed"
    message_id = str(due.payload.get("event_id") or f"fe_{due.event_id}")
    timestamp_s = int(time.time())
    body = json.dumps(
        {"type": due.type, "timestamp": due.payload.get("occurred_at"), "data": due.payload}, separators=(",", ":")
    ).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sign(due.secret, message_id, timestamp_s, body),
    }
    try:
        answer = await http.post(due.url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH_MAX] or type(exc).__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


async def deliver_due(engine: AsyncEngine, http: httpx.AsyncClient, policy: WebhookPolicy) -> int:
    """One round: post every due delivery once; returns how many were delivered."""
    due = await _claim(engine, policy)
    if not due:
        return 0
    errors = await asyncio.gather(*(_post(http, item, policy.timeout_s) for item in due))
    async with engine.begin() as conn:
        for item, error in zip(due, errors, strict=True):
            await _record(conn, item, error, policy)
    return sum(error is None for error in errors)


async def _record(conn: AsyncConnection, item: _Due, error: str | None, policy: WebhookPolicy) -> None:
    if error is None:
        status, delay_s = "delivered", None
    elif item.attempt > len(policy.retry_delays_s) or item.url is None:
        status, delay_s = "failed", None
    else:
        status, delay_s = "pending", policy.retry_delays_s[item.attempt - 1]
    await conn.execute(
        text(
            "UPDATE webhook_deliveries SET status = :status, last_error = :error, updated_at = now(), "
            "delivered_at = CASE WHEN :status = 'delivered' THEN now() END, "
            "next_attempt_at = CASE WHEN :status = 'pending' THEN now() + make_interval(secs => :delay_s) END "
            "WHERE event_id = :id"
        ),
        {"status": status, "error": error, "delay_s": delay_s or 0.0, "id": item.event_id},
    )
