"""Read-only queries over batches for ingress: a batch with its counts by state and cost, pages of batches, and
its finished lines' results in line order (from `jobs`, the book of record, so they survive any restart).

A batch's unreleased lines are `waiting_for_credit` from the first read when the feeder would hold them back for
credit, before it has tried them: when its feed says so, when another batch of its workspace waits for a hold the
workspace's available credit above its floor still cannot pay (the whole workspace waits, so a later batch never
overtakes it), or when that credit cannot pay its next line's hold, priced as admission prices it. The feeder
itself needs none of this: it reads no line of a workspace that waits (`ledger/batch_feeder.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import admission, driver, holds, price_book
from ledger.queries import result_of
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted
from schemas.results import JobResult

# What the lines not yet released count as, by the feed's state.
_UNRELEASED_AS = {
    "cancelling": "cancelled",
    "cancelled": "cancelled",
    "expiring": "expired",
    "expired": "expired",
}
_STATUS = {"expiring": "in_progress"}

# The workspace's available credit above its floor, and the largest hold any of its unfinished batches waits for
# (the feeder records the same hold on every batch of a workspace that ran short; as it does, it leaves out batches
# being cancelled, expiring or waiting for a limit): over the few active feeds.
_CREDIT = """
           coalesce((SELECT a.balance - a.floor FROM ledger_accounts a
                     WHERE a.workspace_id = b.workspace_id AND a.kind = 'available'), 0) AS credit_headroom,
           (SELECT max(o.credit_needed_tokens) FROM batch_feeds o
            WHERE o.workspace_id = b.workspace_id AND o.finished_at IS NULL AND o.status = 'in_progress'
                AND (o.throttled_until IS NULL OR o.throttled_until <= now())) AS workspace_credit_needed"""
_BATCH = text(
    f"""
    SELECT b.*, f.status AS feed_status, f.waiting_for_credit_since, f.throttled_until, f.finished_at,
           coalesce(f.next_line, 1) AS next_line, {_CREDIT}
    FROM batches b LEFT JOIN batch_feeds f ON f.batch_id = b.id
    WHERE b.id = :b AND b.workspace_id = :ws
    """  # noqa: S608 (_CREDIT is this module's constant)
)
_CREATED_AT = text("SELECT created_at FROM batches WHERE id = :b AND workspace_id = :ws")
_PAGE = text(
    f"""
    SELECT b.*, f.status AS feed_status, f.waiting_for_credit_since, f.throttled_until, f.finished_at,
           coalesce(f.next_line, 1) AS next_line, {_CREDIT}
    FROM batches b LEFT JOIN batch_feeds f ON f.batch_id = b.id
    WHERE b.workspace_id = :ws
        AND (CAST(:after_time AS timestamptz) IS NULL OR (b.created_at, b.id) < (:after_time, :after_id))
    ORDER BY b.created_at DESC, b.id DESC LIMIT :limit
    """  # noqa: S608 (_CREDIT is this module's constant)
)
# Ended batches (those that have output and error files), from a position on, the batch at it included: a listing
# of their files resumes within the batch its cursor names (ingress/batch_output_files.py).
_ENDED_PAGE = {
    order: text(
        f"""
        SELECT b.*, f.status AS feed_status, f.waiting_for_credit_since, f.throttled_until, f.finished_at,
               coalesce(f.next_line, 1) AS next_line, {_CREDIT}
        FROM batches b JOIN batch_feeds f ON f.batch_id = b.id
        WHERE b.workspace_id = :ws AND f.finished_at IS NOT NULL
            AND (CAST(:after_time AS timestamptz) IS NULL OR (b.created_at, b.id) {compared} (:after_time, :after_id))
        ORDER BY b.created_at {order}, b.id {order} LIMIT :limit
        """  # noqa: S608 (_CREDIT and the comparison are this module's constants)
    )
    for order, compared in (("DESC", "<="), ("ASC", ">="))
}
# The next unreleased line of each of some batches (its job as JSON; NULL when it has none), in one statement.
_NEXT_LINES = text(
    """
    SELECT n.batch_id,
           (SELECT l.job::text FROM batch_lines l WHERE l.batch_id = n.batch_id AND l.line_no >= n.next_line
            ORDER BY l.line_no LIMIT 1) AS job
    FROM unnest(CAST(:ids AS text[]), CAST(:next_lines AS integer[])) AS n(batch_id, next_line)
    """
)
# A batch's lines by state and its cost so far, from its tally (migration 0027: kept by a trigger on `jobs`, so a
# read costs the same for ten lines or a million): lines not released yet are those without a job.
_COUNT_COLUMNS = """
    b.total_lines - coalesce(t.queued + t.completed + t.failed + t.cancelled + t.expired, 0) AS unreleased,
    coalesce(t.queued, 0) AS running,
    coalesce(t.completed, 0) AS completed,
    coalesce(t.failed, 0) AS failed,
    coalesce(t.cancelled, 0) AS cancelled,
    coalesce(t.expired, 0) AS expired,
    coalesce(t.cost_tokens, 0) AS cost_tokens,
    coalesce(t.input_tokens, 0) AS input_tokens,
    coalesce(t.output_tokens, 0) AS output_tokens
    FROM batches b LEFT JOIN batch_tallies t ON t.batch_id = b.id"""
_COUNTS = text(f"SELECT {_COUNT_COLUMNS} WHERE b.id = :b")
# The same counts for each of some batches, one row each, in one statement.
_COUNTS_OF = text(f"SELECT b.id AS batch_id, {_COUNT_COLUMNS} WHERE b.id = ANY(CAST(:ids AS text[]))")
# Read on psycopg's own connection (`ledger.driver`), as the hot path's statements are: SQLAlchemy's row
# processing was an eighth of a results download's CPU. No `terms`: neither result renderer shows the price.
_RESULTS = """
    SELECT l.line_no, l.custom_id, l.job_id, l.model_id AS line_model, j.id, j.workspace_id, j.status, j.model_id,
           j.answered_by, j.provider, j.input_tokens, j.output_tokens, j.cost_tokens, j.uncharged_tokens,
           j.overrun_tokens, j.usage_estimated, j.attempts, j.first_token_ms, j.balance_left, j.answer, j.finish_reason,
           j.error, j.choices, j.cached_input_tokens, j.reasoning_tokens, j.system_fingerprint,
           j.finished_at AS job_finished_at
    FROM batch_lines l LEFT JOIN jobs j ON j.id = l.job_id
    WHERE l.batch_id = %(b)s AND l.line_no > %(after)s ORDER BY l.line_no LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class BatchView:
    row: Any
    status: str
    counts: dict[str, int]
    cost_tokens: int
    # Tokens its jobs' providers reported so far (a failed job's too, though it is charged nothing).
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def results_expire_at(self) -> datetime | None:
        """When its results (OpenAI's output and error files) go, if its creator asked for that sooner than the
        retention (`output_expires_after`, native `results_expire_after`) and it has ended; the ledger's retention
        deletes the batch then."""
        after_s = self.row.output_expires_after_s
        if after_s is None or self.row.finished_at is None:
            return None
        ended: datetime = self.row.finished_at
        return ended + timedelta(seconds=after_s)


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's outcome: its job's result once finished (and when it finished), or the state that ended it
    unreleased."""

    line_no: int
    custom_id: str
    job_id: str
    model_id: str
    state: str
    # Without its `price`: no batch renderer shows it.
    result: JobResult | None
    finished_at: datetime | None = None


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


async def batch(engine: AsyncEngine, workspace_id: str, batch_id: str, *, catalogue: Catalogue) -> BatchView | None:
    """A batch of this workspace (another workspace's is absent), with its counts by state and its cost so far;
    `catalogue` prices its next line when that decides whether it waits for credit."""
    async with engine.connect() as conn:
        row = (await conn.execute(_BATCH, {"b": batch_id, "ws": workspace_id})).first()
        if row is None:
            return None
        (view,) = await _views(conn, [row], catalogue)
        return view


async def created_at(engine: AsyncEngine, workspace_id: str, batch_id: str) -> datetime | None:
    """When a batch of this workspace was created (None: it has no such batch, or no longer): a page's position."""
    async with engine.connect() as conn:
        found: datetime | None = (
            await conn.execute(_CREATED_AT, {"b": batch_id, "ws": workspace_id})
        ).scalar_one_or_none()
        return found


async def page(
    engine: AsyncEngine, workspace_id: str, *, after: tuple[datetime, str] | None, limit: int, catalogue: Catalogue
) -> list[BatchView]:
    """Batches newest first, after a keyset cursor (created_at, id)."""
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
        return await _views(conn, rows, catalogue)


async def ended_page(
    engine: AsyncEngine,
    workspace_id: str,
    *,
    from_position: tuple[datetime, str] | None,
    ascending: bool,
    limit: int,
    catalogue: Catalogue,
) -> list[BatchView]:
    """Ended batches in creation order (newest first unless `ascending`), from the keyset position (created_at, id)
    on, the batch at it included."""
    params = {
        "ws": workspace_id,
        "after_time": from_position[0] if from_position else None,
        "after_id": from_position[1] if from_position else "",
        "limit": limit,
    }
    async with engine.connect() as conn:
        rows = (await conn.execute(_ENDED_PAGE["ASC" if ascending else "DESC"], params)).all()
        return await _views(conn, rows, catalogue)


async def _views(conn: AsyncConnection, rows: Sequence[Any], catalogue: Catalogue) -> list[BatchView]:
    """The views of batch rows, in their order, in at most three statements however many there are: their
    counts; the next lines of those whose wait for credit only the next line's hold decides; those lines' prices."""
    if not rows:
        return []
    counts = {found.batch_id: found for found in await conn.execute(_COUNTS_OF, {"ids": [row.id for row in rows]})}
    waits = {row.id: _waits_by_row(row, counts[row.id]) for row in rows}
    undecided = [row for row in rows if waits[row.id] is None]
    if undecided:
        next_lines = await conn.execute(
            _NEXT_LINES, {"ids": [row.id for row in undecided], "next_lines": [row.next_line for row in undecided]}
        )
        jobs = {
            found.batch_id: ChatJobSubmitted.model_validate_json(found.job)
            for found in next_lines
            if found.job is not None
        }
        # One price read for all the lines: each is priced by its own route's models only, the others' change nothing.
        versions = await price_book.prices_at(conn, admission.route_models(catalogue, list(jobs.values())))
        for row in undecided:
            job = jobs.get(row.id)
            waits[row.id] = job is not None and _short_of(row, admission.hold_request(catalogue, job, versions))
    return [_view(row, counts[row.id], bool(waits[row.id])) for row in rows]


def _waits_by_row(row: Any, counts: Any) -> bool | None:
    """Whether the batch's unreleased lines wait for credit, as the feeder decides it (module docstring), as far as
    its row tells; None when nothing says so yet (a batch the feeder has not tried): its next line's hold decides."""
    if row.waiting_for_credit_since is not None:
        return True
    if not counts.unreleased or (row.feed_status or "in_progress") != "in_progress" or row.finished_at is not None:
        return False
    if row.throttled_until is not None or row.cancel_requested_at is not None:
        return False
    needed = row.workspace_credit_needed
    if needed is not None and row.credit_headroom < needed:
        return True
    return None


def _short_of(row: Any, request: holds.HoldRequest) -> bool:
    """Whether the workspace's credit cannot pay the next line's hold, as admission would ask it."""
    # A line that cannot be held at all fails when released; it waits for nothing.
    return request.refusal is None and row.credit_headroom < request.hold


def _view(row: Any, counts: Any, waits_for_credit: bool) -> BatchView:
    feed_status = row.feed_status or "in_progress"
    unreleased_as = _UNRELEASED_AS.get(feed_status)
    if unreleased_as is None:
        # A limit is named first: credit runs short workspace-wide, a limit holds this batch back for a while.
        if row.throttled_until is not None:
            unreleased_as = "waiting_for_limit"
        elif waits_for_credit:
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
        row=row,
        status=status,
        counts={"total": row.total_lines, **by_state},
        cost_tokens=counts.cost_tokens,
        input_tokens=counts.input_tokens,
        output_tokens=counts.output_tokens,
    )


async def results(engine: AsyncEngine, view: BatchView, *, chunk_lines: int) -> AsyncIterator[LineResult]:
    """The batch's finished lines in line order, read a chunk at a time (memory bounded by the chunk)."""
    after = 0
    unreleased_as = _UNRELEASED_AS.get(view.row.feed_status or "")
    while True:
        async with engine.connect() as conn:
            rows = await driver.fetch(conn, _RESULTS, {"b": view.row.id, "after": after, "limit": chunk_lines})
        for row in rows:
            status = row["status"]
            if status is not None and status != "queued":
                yield LineResult(
                    row["line_no"],
                    row["custom_id"],
                    row["job_id"],
                    row["line_model"],
                    status,
                    result_of(row, priced=False),
                    row["job_finished_at"],
                )
            elif status is None and unreleased_as is not None:
                yield LineResult(
                    row["line_no"], row["custom_id"], row["job_id"], row["line_model"], unreleased_as, None
                )
        if len(rows) < chunk_lines:
            return
        after = rows[-1]["line_no"]
