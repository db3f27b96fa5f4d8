"""Read-only queries over batches for ingress: a batch with its counts by state and cost, pages of batches, and
its finished lines' results in line order (from `jobs`, the book of record, so they survive any restart)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.queries import result_of
from schemas.results import JobResult

# What the lines not yet released count as, by the feed's state.
_UNRELEASED_AS = {
    "cancelling": "cancelled",
    "cancelled": "cancelled",
    "expiring": "expired",
    "expired": "expired",
}
_STATUS = {"expiring": "in_progress"}

_BATCH = text(
    """
    SELECT b.*, f.status AS feed_status, f.waiting_for_credit_since, f.throttled_until, f.finished_at
    FROM batches b LEFT JOIN batch_feeds f ON f.batch_id = b.id
    WHERE b.id = :b AND b.workspace_id = :ws
    """
)
_PAGE = text(
    """
    SELECT b.*, f.status AS feed_status, f.waiting_for_credit_since, f.throttled_until, f.finished_at
    FROM batches b LEFT JOIN batch_feeds f ON f.batch_id = b.id
    WHERE b.workspace_id = :ws
        AND (CAST(:after_time AS timestamptz) IS NULL OR (b.created_at, b.id) < (:after_time, :after_id))
    ORDER BY b.created_at DESC, b.id DESC LIMIT :limit
    """
)
_COUNTS = text(
    """
    SELECT count(*) FILTER (WHERE j.id IS NULL) AS unreleased,
           count(*) FILTER (WHERE j.status = 'queued') AS running,
           count(*) FILTER (WHERE j.status = 'completed') AS completed,
           count(*) FILTER (WHERE j.status IN ('failed', 'rejected')) AS failed,
           count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE j.status = 'expired') AS expired,
           CAST(coalesce(sum(j.cost_tokens), 0) AS bigint) AS cost_tokens
    FROM batch_lines l LEFT JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = :b
    """
)
_RESULTS = text(
    """
    SELECT l.line_no, l.custom_id, l.job_id, l.model_id AS line_model, j.id, j.workspace_id, j.status, j.model_id,
           j.answered_by, j.provider, j.input_tokens, j.output_tokens, j.cost_tokens, j.uncharged_tokens,
           j.overrun_tokens, j.usage_estimated, j.attempts, j.first_token_ms, j.balance_left, j.answer, j.finish_reason,
           j.error,
           j.terms
    FROM batch_lines l LEFT JOIN jobs j ON j.id = l.job_id
    WHERE l.batch_id = :b AND l.line_no > :after ORDER BY l.line_no LIMIT :limit
    """
)


@dataclass(frozen=True, slots=True)
class BatchView:
    row: Any
    status: str
    counts: dict[str, int]
    cost_tokens: int


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's outcome: its job's result once finished, or the state that ended it unreleased."""

    line_no: int
    custom_id: str
    job_id: str
    model_id: str
    state: str
    result: JobResult | None


async def final_counts(conn: AsyncConnection, batch_id: str, status: str) -> tuple[dict[str, int], int]:
    """A finished batch's lines by terminal state and its cost (lines never released count as `status` says:
    cancelled or expired), read in the caller's transaction."""
    counts = (await conn.execute(_COUNTS, {"b": batch_id})).one()
    by_state = {
        "completed": counts.completed,
        "failed": counts.failed,
        "cancelled": counts.cancelled,
        "expired": counts.expired,
    }
    unreleased_as = _UNRELEASED_AS.get(status, "cancelled")
    by_state[unreleased_as] += counts.unreleased
    return by_state, int(counts.cost_tokens)


async def batch(engine: AsyncEngine, workspace_id: str, batch_id: str) -> BatchView | None:
    """A batch of this workspace (another workspace's is absent), with its counts by state and its cost so far."""
    async with engine.connect() as conn:
        row = (await conn.execute(_BATCH, {"b": batch_id, "ws": workspace_id})).first()
        if row is None:
            return None
        counts = (await conn.execute(_COUNTS, {"b": batch_id})).one()
    return _view(row, counts)


async def page(
    engine: AsyncEngine, workspace_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[BatchView]:
    """Batches newest first, after a keyset cursor (created_at, id)."""
    views = []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                _PAGE,
                {
                    "ws": workspace_id,
                    "after_time": after[0] if after else None,
                    "after_id": after[1] if after else "",
                    "limit": limit,
                },
            )
        ).all()
        for row in rows:
            views.append(_view(row, (await conn.execute(_COUNTS, {"b": row.id})).one()))
    return views


def _view(row: Any, counts: Any) -> BatchView:
    feed_status = row.feed_status or "in_progress"
    unreleased_as = _UNRELEASED_AS.get(feed_status)
    if unreleased_as is None:
        # A limit is named first: credit runs short workspace-wide, a limit holds this batch back for a while.
        if row.throttled_until is not None:
            unreleased_as = "waiting_for_limit"
        elif row.waiting_for_credit_since is not None:
            unreleased_as = "waiting_for_credit"
        else:
            unreleased_as = "queued"
    by_state = {
        "queued": 0,
        "waiting_for_credit": 0,
        "waiting_for_limit": 0,
        "running": counts.running,
        "completed": counts.completed,
        "failed": counts.failed,
        "cancelled": counts.cancelled,
        "expired": counts.expired,
    }
    by_state[unreleased_as] += counts.unreleased
    status = _STATUS.get(feed_status, feed_status)
    if status == "in_progress" and row.cancel_requested_at is not None:
        status = "cancelling"
    return BatchView(
        row=row, status=status, counts={"total": row.total_lines, **by_state}, cost_tokens=counts.cost_tokens
    )


async def results(engine: AsyncEngine, view: BatchView, *, chunk_lines: int) -> AsyncIterator[LineResult]:
    """The batch's finished lines in line order, read a chunk at a time (memory bounded by the chunk)."""
    after = 0
    unreleased_as = _UNRELEASED_AS.get(view.row.feed_status or "")
    while True:
        async with engine.connect() as conn:
            rows = (await conn.execute(_RESULTS, {"b": view.row.id, "after": after, "limit": chunk_lines})).all()
        for row in rows:
            fields = row._mapping
            if row.status is not None and row.status != "queued":
                yield LineResult(row.line_no, row.custom_id, row.job_id, row.line_model, row.status, result_of(fields))
            elif row.status is None and unreleased_as is not None:
                yield LineResult(row.line_no, row.custom_id, row.job_id, row.line_model, unreleased_as, None)
        if len(rows) < chunk_lines:
            return
        after = rows[-1].line_no
