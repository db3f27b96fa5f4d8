"""The feeder's reads and writes in PostgreSQL: active batches, their pending lines, batch jobs in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Batch jobs are `bj_<batch hex>_<line>`: matched by a LIKE prefix, `_` escaped.
BATCH_JOBS = "bj\\_%"


def batch_job_prefix(batch_id: str) -> str:
    return f"bj\\_{batch_id.removeprefix('batch_')}\\_%"


@dataclass(frozen=True, slots=True)
class Feed:
    """An unfinished batch as the feeder sees it."""

    batch_id: str
    workspace_id: str
    status: str
    next_line: int
    waiting_since: datetime | None
    expires_at: datetime
    cancel_requested: bool
    created_at: datetime
    metadata: Any
    # The batch's last stored line: lines from `next_line` to it are still to be released.
    last_line: int = 0
    # A limit (rate limit, spend cap) refused its next line: it is not tried again before this.
    throttled_until: datetime | None = None
    # Its workspace could not pay this hold when last tried (None: it does not wait for credit), and is not tried
    # again before it could or before `credit_recheck_at`; `credit_headroom` is what the workspace's available
    # account holds above its floor now (read with the feed, without a lock).
    credit_needed_tokens: int | None = None
    credit_recheck_at: datetime | None = None
    credit_headroom: int = 0
    # The pool of its next pending line (None: none pending). A batch is released as a prefix, so nothing of it
    # goes before this pool has a slot free.
    next_pool: str | None = None
    # Its workspace is suspended: none of its lines is released until the workspace is resumed.
    suspended: bool = False

    @property
    def has_pending(self) -> bool:
        return self.next_line <= self.last_line

    def throttled_at(self, now: datetime) -> bool:
        return self.throttled_until is not None and now < self.throttled_until

    def starved_at(self, now: datetime) -> bool:
        """Its workspace still cannot pay the hold it last ran short of, and the recheck is not due: trying its
        lines now would read them for nothing (the gate's rule: a hold fits while available - hold >= floor)."""
        if self.credit_needed_tokens is None or self.credit_headroom >= self.credit_needed_tokens:
            return False
        return self.credit_recheck_at is None or now < self.credit_recheck_at


@dataclass(frozen=True, slots=True)
class Advance:
    """What one tick did to a batch it looked at: its next line (None: none released), whether its workspace ran
    short of credit, until when a limit holds it back (None: none did), and whether its lines were tried; when
    its workspace ran short, the hold it could not pay and when to try again regardless."""

    batch_id: str
    next_line: int | None
    short: bool
    throttled_until: datetime | None
    tried: bool
    credit_needed_tokens: int | None = None
    credit_recheck_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingLine:
    batch_id: str
    line_no: int
    pool: str
    job: str


_ADOPT = text(
    """
    INSERT INTO batch_feeds (batch_id, workspace_id)
    SELECT b.id, b.workspace_id FROM batches b
    WHERE NOT EXISTS (SELECT 1 FROM batch_feeds f WHERE f.batch_id = b.id)
    ON CONFLICT (batch_id) DO NOTHING
    """
)
_ACTIVE = text(
    """
    SELECT f.batch_id, f.workspace_id, f.status, f.next_line, f.waiting_for_credit_since, f.throttled_until,
           f.credit_needed_tokens, f.credit_recheck_at, b.expires_at,
           b.cancel_requested_at IS NOT NULL AS cancel_requested, b.created_at, b.metadata,
           coalesce((SELECT max(l.line_no) FROM batch_lines l WHERE l.batch_id = f.batch_id), 0) AS last_line,
           (SELECT l.pool FROM batch_lines l WHERE l.batch_id = f.batch_id AND l.line_no >= f.next_line
            ORDER BY l.line_no LIMIT 1) AS next_pool,
           coalesce(a.balance - a.floor, 0) AS credit_headroom,
           w.suspended_at IS NOT NULL AS suspended
    FROM batch_feeds f JOIN batches b ON b.id = f.batch_id
        LEFT JOIN workspaces w ON w.id = f.workspace_id
        LEFT JOIN ledger_accounts a ON a.workspace_id = f.workspace_id AND a.kind = 'available'
    WHERE f.finished_at IS NULL ORDER BY b.created_at, b.id
    """
)
_PENDING = text(
    "SELECT batch_id, line_no, pool, job::text AS job FROM batch_lines "
    "WHERE batch_id = :b AND line_no >= :next ORDER BY line_no LIMIT :limit"
)
# Every queued job (the partial index of queued jobs keeps this small): batch jobs held and unsettled, and
# interactive ones, by model.
_IN_FLIGHT = text(
    "SELECT model_id, count(*) FILTER (WHERE id LIKE :pattern) AS batch, "
    "count(*) FILTER (WHERE id NOT LIKE :pattern) AS interactive "
    "FROM jobs WHERE status = 'queued' GROUP BY model_id"
)
_RUNNING = text("SELECT count(*) FROM jobs WHERE status = 'queued' AND id LIKE :pattern")
# Per batch: its new next line (NULL: none released) and whether its workspace ran short of credit. A batch that
# released lines or whose workspace had credit stops waiting; one whose workspace ran short waits from now, or
# from when it started waiting (unless it released lines this tick: then it starts waiting now). A batch a limit
# refused waits until the time given; one tried and not refused by a limit no longer waits for one. A batch whose
# workspace ran short records the hold it could not pay and when to try it again anyway; one that did not, none.
_ADVANCE = text(
    """
    UPDATE batch_feeds SET next_line = coalesce(a.next_line, batch_feeds.next_line),
        waiting_for_credit_since = CASE
            WHEN NOT a.short THEN NULL
            WHEN a.next_line IS NOT NULL THEN now()
            ELSE coalesce(batch_feeds.waiting_for_credit_since, now()) END,
        throttled_until = CASE
            WHEN a.throttled_until IS NOT NULL THEN a.throttled_until
            WHEN a.tried THEN NULL
            ELSE batch_feeds.throttled_until END,
        credit_needed_tokens = CASE WHEN a.short THEN a.needed END,
        credit_recheck_at = CASE WHEN a.short THEN a.recheck_at END
    FROM unnest(CAST(:ids AS text[]), CAST(:nexts AS integer[]), CAST(:short AS boolean[]),
                CAST(CAST(:untils AS text[]) AS timestamptz[]), CAST(:tried AS boolean[]),
                CAST(:needed AS bigint[]), CAST(CAST(:rechecks AS text[]) AS timestamptz[]))
         AS a(batch_id, next_line, short, throttled_until, tried, needed, recheck_at)
    WHERE batch_feeds.batch_id = a.batch_id
        AND (a.next_line IS NOT NULL OR a.short OR batch_feeds.waiting_for_credit_since IS NOT NULL
             OR a.throttled_until IS NOT NULL OR (a.tried AND batch_feeds.throttled_until IS NOT NULL))
    """
)
_SET_STATUS = text("UPDATE batch_feeds SET status = :status WHERE batch_id = :b")
_FINISH = text(
    "UPDATE batch_feeds SET status = :status, finished_at = now() WHERE batch_id = :b AND finished_at IS NULL"
)
_UNDISPATCHED = text(
    """
    SELECT j.id, j.hold_tokens, l.pool, l.job::text AS job FROM jobs j
    JOIN batch_lines l ON l.job_id = j.id
        AND l.batch_id = 'batch_' || split_part(j.id, '_', 2)
        AND l.line_no = CAST(split_part(j.id, '_', 3) AS integer)
    WHERE j.status = 'queued' AND j.dispatched_at IS NULL AND j.id LIKE :pattern
        AND j.created_at < now() - make_interval(secs => :grace_s)
    LIMIT :limit
    """
)


async def adopt_new(conn: AsyncConnection) -> None:
    """Give every batch stored since the last tick its feed row."""
    await conn.execute(_ADOPT)


async def active(conn: AsyncConnection) -> list[Feed]:
    rows = await conn.execute(_ACTIVE)
    return [
        Feed(
            batch_id=row.batch_id,
            workspace_id=row.workspace_id,
            status=row.status,
            next_line=row.next_line,
            waiting_since=row.waiting_for_credit_since,
            throttled_until=row.throttled_until,
            credit_needed_tokens=row.credit_needed_tokens,
            credit_recheck_at=row.credit_recheck_at,
            credit_headroom=row.credit_headroom,
            expires_at=row.expires_at,
            cancel_requested=row.cancel_requested,
            created_at=row.created_at,
            metadata=row.metadata,
            last_line=row.last_line,
            next_pool=row.next_pool,
            suspended=bool(row.suspended),
        )
        for row in rows
    ]


async def pending_lines(conn: AsyncConnection, feed: Feed, limit: int) -> list[PendingLine]:
    rows = await conn.execute(_PENDING, {"b": feed.batch_id, "next": feed.next_line, "limit": limit})
    return [PendingLine(row.batch_id, row.line_no, row.pool, row.job) for row in rows]


@dataclass(frozen=True, slots=True)
class InFlight:
    """Jobs held and not yet settled, by model: batch jobs, and interactive ones."""

    batch: dict[str, int]
    interactive: dict[str, int]


async def in_flight_by_model(conn: AsyncConnection) -> InFlight:
    """Queued jobs by model and lane (read over the small partial index of queued jobs)."""
    rows = (await conn.execute(_IN_FLIGHT, {"pattern": BATCH_JOBS})).all()
    return InFlight(
        batch={row.model_id: row.batch for row in rows if row.batch},
        interactive={row.model_id: row.interactive for row in rows if row.interactive},
    )


async def running(conn: AsyncConnection, batch_id: str) -> int:
    return int((await conn.execute(_RUNNING, {"pattern": batch_job_prefix(batch_id)})).scalar_one())


async def advance(conn: AsyncConnection, feeds: list[Advance]) -> None:
    """Record, per batch a tick looked at, how far it got and whether it now waits for credit or for a limit."""
    if feeds:
        await conn.execute(
            _ADVANCE,
            {
                "ids": [f.batch_id for f in feeds],
                "nexts": [f.next_line for f in feeds],
                "short": [f.short for f in feeds],
                # As text: a list of nothing but NULLs has no type the driver could send.
                "untils": [f.throttled_until.isoformat() if f.throttled_until else None for f in feeds],
                "tried": [f.tried for f in feeds],
                "needed": [f.credit_needed_tokens for f in feeds],
                "rechecks": [f.credit_recheck_at.isoformat() if f.credit_recheck_at else None for f in feeds],
            },
        )


async def set_status(conn: AsyncConnection, batch_id: str, status: str) -> None:
    await conn.execute(_SET_STATUS, {"b": batch_id, "status": status})


async def finish(conn: AsyncConnection, batch_id: str, status: str) -> bool:
    """Record the batch's terminal state; False if another tick recorded it first."""
    return bool((await conn.execute(_FINISH, {"b": batch_id, "status": status})).rowcount)


async def undispatched(conn: AsyncConnection, *, grace_s: float, limit: int) -> list[Any]:
    """Batch jobs held but never recorded as dispatched (a feeder died between commit and publish)."""
    return list(await conn.execute(_UNDISPATCHED, {"pattern": BATCH_JOBS, "grace_s": grace_s, "limit": limit}))
