"""The delivery queue in PostgreSQL: claim due deliveries (SKIP LOCKED, with a lease), record each attempt and
its outcome (delivered, retried after the next delay of the schedule, or dead once the schedule is spent).

A claim commits before any POST, so no transaction is open while a receiver takes its time. The lease (the row's
`next_attempt_at` pushed past the attempt's deadline) keeps other dispatchers off it meanwhile; a dispatcher
killed mid-attempt leaves the row to come due again when the lease ends: at least once, never lost.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.webhook_post import AttemptOutcome, Message

LEASE_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    # Delays before retry 1, 2, ...: len(retry_delays_s) + 1 attempts in all, then the delivery is `dead`.
    retry_delays_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0)
    timeout_s: float = 15.0
    batch_max: int = 50

    @property
    def lease_s(self) -> float:
        return self.timeout_s + LEASE_MARGIN_S


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery: where it goes and what it says."""

    delivery_id: int
    attempt: int
    schedule_start: int
    workspace_id: str
    endpoint_id: str | None
    url: str | None
    message: Message | None
    started_at: datetime


# One statement, run on its own (autocommit: no BEGIN and COMMIT round trips), that leases due deliveries fairly
# across workspaces and says when the next pending one not leased now falls due (a retry, a lease running out; read
# before this statement's leases, which are this dispatcher's own attempts). Its one row when nothing is due carries
# only that.
#
# Fairness: `spaces` walks the workspaces that have pending deliveries (a skip scan of the index by workspace: one
# probe a workspace, whatever their backlogs), leaving out those at their in-flight cap (`busy_ws`); each gives its
# oldest due deliveries (at most `per_workspace`, none for endpoints at their cap), and the claim takes every
# workspace's first, then every workspace's second, and so on. One workspace's backlog or slow receivers never
# stand in front of another's delivery.
_CLAIM = text(
    """
    WITH RECURSIVE spaces AS (
        (SELECT d.workspace_id FROM webhook_deliveries d WHERE d.state = 'pending' ORDER BY d.workspace_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.workspace_id FROM webhook_deliveries d
                WHERE d.state = 'pending' AND d.workspace_id > s.workspace_id ORDER BY d.workspace_id LIMIT 1)
        FROM spaces s WHERE s.workspace_id IS NOT NULL
    ), open_spaces AS (
        SELECT workspace_id FROM spaces
        WHERE workspace_id IS NOT NULL AND NOT workspace_id = ANY(CAST(:busy_ws AS text[]))
    ), candidates AS (
        SELECT c.id, c.turn, c.next_attempt_at FROM open_spaces s CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at, row_number() OVER (ORDER BY d.next_attempt_at, d.id) AS turn
            FROM webhook_deliveries d
            WHERE d.workspace_id = s.workspace_id AND d.state = 'pending' AND d.next_attempt_at <= now()
              AND (d.endpoint_id IS NULL OR NOT d.endpoint_id = ANY(CAST(:busy AS text[])))
            ORDER BY d.next_attempt_at, d.id LIMIT :per_workspace
        ) AS c
    ), due AS (
        SELECT d.id, e.url, e.secret, e.enabled,
               CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret
        FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.id IN (SELECT id FROM candidates ORDER BY turn, next_attempt_at, id LIMIT :n)
          AND d.state = 'pending' AND d.next_attempt_at <= now()
        FOR UPDATE OF d SKIP LOCKED
    ), leased AS (
        UPDATE webhook_deliveries d SET attempts = d.attempts + 1, updated_at = now(),
               next_attempt_at = now() + make_interval(secs => :lease_s)
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.attempts, d.schedule_start, d.workspace_id, d.endpoint_id, d.event_id, d.event_type,
                  d.payload, d.occurred_at
    ), upcoming AS (
        SELECT extract(epoch FROM min(u.next_attempt_at) - now()) AS next_due_in_s
        FROM open_spaces s CROSS JOIN LATERAL (
            SELECT d.next_attempt_at FROM webhook_deliveries d
            WHERE d.workspace_id = s.workspace_id AND d.state = 'pending' AND d.id NOT IN (SELECT id FROM due)
              AND (d.endpoint_id IS NULL OR NOT d.endpoint_id = ANY(CAST(:busy AS text[])))
            ORDER BY d.next_attempt_at, d.id LIMIT 1
        ) AS u
    )
    SELECT claimed.*, upcoming.next_due_in_s
    FROM upcoming LEFT JOIN (
        SELECT leased.*, due.url, due.secret, due.previous_secret, due.enabled, now() AS started_at
        FROM leased JOIN due USING (id)
    ) AS claimed ON true
    """
)


@dataclass(frozen=True, slots=True)
class Claimed:
    due: list[Due]
    # Seconds until the next delivery not claimed falls due (<= 0: due already), None when none is pending. A
    # claim that filled its limit says 0 without reading: more may be due now.
    next_due_in_s: float | None
    # Due deliveries were left behind for endpoints or workspaces at their in-flight cap (set by the dispatcher,
    # which knows).
    slot_awaited: bool = False


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement is its own transaction. Each statement here is one (CTEs included), so
    it is as atomic as in BEGIN ... COMMIT, without those two round trips per claim and per recorded attempt."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def body_of(event_type: str, occurred_at: datetime, payload: dict[str, Any]) -> bytes:
    """Standard Webhooks' recommended payload."""
    body = {"type": event_type, "timestamp": occurred_at.isoformat(), "data": payload}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def claim(
    engine: AsyncEngine,
    policy: WebhookPolicy,
    limit: int,
    busy: list[str] | None = None,
    *,
    per_workspace: int,
    busy_workspaces: list[str] | None = None,
) -> Claimed:
    """Lease up to `limit` due deliveries, taking the workspaces' oldest in turn (at most `per_workspace` from
    one), none for the endpoints in `busy` or the workspaces in `busy_workspaces` (at their in-flight caps), and
    say when the next one falls due."""
    parameters = {
        "n": limit,
        "lease_s": policy.lease_s,
        "busy": busy or [],
        "busy_ws": busy_workspaces or [],
        "per_workspace": per_workspace,
    }
    async with _autocommit(engine) as conn:
        rows = (await conn.execute(_CLAIM, parameters)).all()
    claimed = []
    for row in rows:
        if row.id is None:
            continue
        message = None
        if row.secret is not None and row.enabled:
            secrets = (row.secret,) if row.previous_secret is None else (row.secret, row.previous_secret)
            message = Message(row.event_id, body_of(row.event_type, row.occurred_at, row.payload), secrets)
        claimed.append(
            Due(
                row.id,
                row.attempts,
                row.schedule_start,
                row.workspace_id,
                row.endpoint_id,
                row.url,
                message,
                row.started_at,
            )
        )
    found = rows[0].next_due_in_s
    next_due_in_s = 0.0 if len(claimed) >= limit else None if found is None else float(found)
    return Claimed(claimed, next_due_in_s)


async def release(engine: AsyncEngine, due: list[Due]) -> None:
    """Give back leased deliveries unattempted (their endpoint is at its in-flight cap): due again at once."""
    async with _autocommit(engine) as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = now(), updated_at = now() "
                "WHERE id = ANY(:ids) AND state = 'pending' AND attempts >= 1"
            ),
            {"ids": [item.delivery_id for item in due]},
        )


async def hold(engine: AsyncEngine, due: Due) -> None:
    """Give back, unattempted and held, a delivery whose endpoint turned out disabled when claimed (written
    pending by a transaction that saw it enabled, racing the pause): it waits for the endpoint as the others do."""
    async with _autocommit(engine) as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET state = 'held', attempts = attempts - 1, next_attempt_at = NULL, "
                "updated_at = now() WHERE id = :id AND attempts = :attempt AND state = 'pending'"
            ),
            {"id": due.delivery_id, "attempt": due.attempt},
        )


def next_delay_s(policy: WebhookPolicy, due: Due) -> float | None:
    """The delay before the next attempt after this one failed, or None: the schedule is spent (dead)."""
    made = due.attempt - due.schedule_start
    if made > len(policy.retry_delays_s):
        return None
    return policy.retry_delays_s[made - 1]


_RECORD = text(
    """
    WITH attempt AS (
        INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, latency_ms, error)
        VALUES (:id, :attempt, :started_at, :status_code, :latency_ms, :error)
        ON CONFLICT (delivery_id, attempt) DO NOTHING
    )
    UPDATE webhook_deliveries SET state = :state, last_error = :error, updated_at = now(),
        delivered_at = CASE WHEN :state = 'delivered' THEN now() ELSE delivered_at END,
        next_attempt_at = CASE WHEN :state = 'pending' THEN now() + make_interval(secs => :delay_s) END
    WHERE id = :id AND attempts = :attempt AND (state = 'pending' OR (state = 'held' AND :state = 'delivered'))
    """
)


async def record(engine: AsyncEngine, policy: WebhookPolicy, due: Due, outcome: AttemptOutcome) -> str:
    """Log the attempt and move the delivery on; returns its new state. A row that moved on meanwhile (its
    lease ran out and another dispatcher took it, or its endpoint was paused) keeps the newer state, unless a held
    one was delivered after all; the attempt is logged either way."""
    if outcome.ok:
        state, delay_s = "delivered", 0.0
    elif due.message is None:
        state, delay_s = "dead", 0.0
    else:
        delay = next_delay_s(policy, due)
        state, delay_s = ("dead", 0.0) if delay is None else ("pending", delay)
    async with _autocommit(engine) as conn:
        await conn.execute(
            _RECORD,
            {
                "id": due.delivery_id,
                "attempt": due.attempt,
                "started_at": due.started_at,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
                "state": state,
                "delay_s": delay_s,
            },
        )
    return state
