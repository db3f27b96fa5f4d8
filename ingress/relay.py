"""The outbox relay: confirms published jobs and publishes again those the broker may never have received.

Every ingress runs it; one at a time does a relay pass (a PostgreSQL advisory lock held by the pass's
transaction). A pass takes the outbox rows the ledger is not known to have recorded: a job it has recorded is confirmed
(its event bytes dropped); a job the broker never acknowledged within `relay_grace_s` is published again from
its stored bytes, and so is a job acknowledged but still unrecorded past its deadline (lost by the broker, or
dropped): nothing accepted stays unresolved. A second copy of a job is harmless: the
ledger admits by job id, once. A job past its deadline is published all the same, so the ledger ends it
(`expired`) and every accepted job reaches a terminal state.

Each ingress also writes the acknowledgements its requests received to the outbox in batches, off the
request path; acknowledgements lost in a crash only make the relay check those rows against the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import acceptance, outbox_pruning
from ingress.publisher import JobPublisher, PublishAmbiguous
from ingress.settings import IngressSettings
from ledger import queries
from runtime.consume import Verdict, classify
from schemas.errors import ServiceUnavailable
from schemas.events import ChatJobSubmitted, utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AwaitingRow:
    """An acknowledged job whose outbox row is still to be written."""

    workspace_id: str
    model_id: str
    event: bytes
    deadline_at: datetime | None


# The advisory lock that makes one relay pass run at a time across every ingress of one database.
RELAY_LOCK_ID = 0x4C55_4E54_5200_0006
# Full batches one relay round works through before it lets the acknowledgement flush run again.
RELAY_PASSES_MAX = 10


class OutboxRelay:
    def __init__(self, settings: IngressSettings, engine: AsyncEngine, publisher: JobPublisher) -> None:
        self._settings = settings
        self._engine = engine
        self._publisher = publisher
        self._acked: set[str] = set()
        self._unrecorded: dict[str, AwaitingRow] = {}
        # Set when there is something to flush, so an idle relay sleeps until then (or its next pass).
        self._to_flush = asyncio.Event()

    def unrecorded(self, job: ChatJobSubmitted, event: bytes) -> None:
        """The broker acknowledged this job but its outbox row could not be written (the database is away):
        the caller is told 202, so this ingress answers polls for it from memory and records it at the first
        flush the database allows; from then on any ingress finds it, whether or not the ledger has yet."""
        if len(self._unrecorded) < self._settings.outbox_acks_max:
            self._unrecorded[job.job_id] = AwaitingRow(job.workspace_id, job.model_id, event, job.deadline_at)
            self._to_flush.set()

    def pending_model(self, job_id: str, workspace_id: str) -> str | None:
        """The model of a job this ingress told 202 and has not recorded yet (None: no such job here)."""
        pending = self._unrecorded.get(job_id)
        return pending.model_id if pending is not None and pending.workspace_id == workspace_id else None

    def acknowledged(self, job_id: str) -> None:
        """The broker has this outboxed job: confirm it at the next flush (dropped if too many are waiting,
        which costs only a ledger lookup by the relay later)."""
        if len(self._acked) < self._settings.outbox_acks_max:
            self._acked.add(job_id)
            self._to_flush.set()

    async def run(self) -> None:
        """Flush acknowledgements `outbox_flush_interval_s` after they arrive and try a relay pass every
        `relay_interval_s`."""
        next_pass = time.monotonic()
        next_prune = time.monotonic() + self._settings.outbox_prune_interval_s
        while True:
            try:
                await self.flush()
                if time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + self._settings.relay_interval_s
                    await self.relay()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self._settings.outbox_prune_interval_s
                    await self.prune()
            except Exception as error:
                if classify(error) is Verdict.PERMANENT:
                    raise  # a bug: the supervisor logs it and restarts the loop
                # The database is away: the rows wait in the outbox, the next round tries again.
                log.warning("outbox relay: database unavailable (%s); retrying", error)
            await self._until_next_round(min(next_pass, next_prune))

    async def _until_next_round(self, deadline: float) -> None:
        """Sleep `outbox_flush_interval_s` while anything waits to be flushed (acknowledgements arriving, or a flush
        that failed); with nothing, until something arrives (then the interval, so acknowledgements batch up) or
        the next pass is due, instead of waking every interval to find nothing."""
        if not (self._acked or self._unrecorded):
            self._to_flush.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._to_flush.wait(), max(0.0, deadline - time.monotonic()))
            if not self._to_flush.is_set():
                return
        await asyncio.sleep(self._settings.outbox_flush_interval_s)

    async def flush(self) -> None:
        await self._record_unrecorded()
        if not self._acked:
            return
        job_ids, self._acked = sorted(self._acked), set()
        try:
            async with self._engine.begin() as conn:
                await acceptance.mark_acknowledged(conn, job_ids)
        except Exception:
            self._acked.update(job_ids)
            raise

    async def _record_unrecorded(self) -> None:
        if not self._unrecorded:
            return
        pending = dict(self._unrecorded)
        async with self._engine.begin() as conn:
            for job_id, job in pending.items():
                await acceptance.record(
                    conn,
                    job_id=job_id,
                    workspace_id=job.workspace_id,
                    model_id=job.model_id,
                    event=job.event,
                    deadline_at=job.deadline_at,
                    acknowledged=True,
                )
        for job_id in pending:
            self._unrecorded.pop(job_id, None)
        log.info("outbox relay: %d accepted job(s) recorded once the database was back", len(pending))

    async def prune(self) -> None:
        """Idempotency keys past their window and outbox rows of jobs the ledger recorded as long ago."""
        settings = self._settings
        pruned = await outbox_pruning.prune_once(
            self._engine, age_s=settings.idempotency_window_s, batch_max=settings.outbox_prune_batch_max
        )
        if pruned is not None and (pruned.idempotency_keys or pruned.outbox_rows):
            log.info(
                "outbox pruning: %d idempotency key(s) and %d recorded outbox row(s) older than %.0fs removed",
                pruned.idempotency_keys,
                pruned.outbox_rows,
                settings.idempotency_window_s,
            )
        if pruned is not None and pruned.expired_files:
            log.info("outbox pruning: %d uploaded file(s) past their expiry deleted", pruned.expired_files)

    async def relay(self) -> None:
        """Passes while each settles a full batch (bounded, so the acknowledgement flushes keep going)."""
        for _ in range(RELAY_PASSES_MAX):
            if await self.relay_once() < self._settings.relay_batch_max:
                return

    async def relay_once(self) -> int:
        """One pass, if no other ingress is running one; returns how many rows it settled (found recorded by the
        ledger, or published again)."""
        settings = self._settings
        async with self._engine.begin() as conn:
            locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": RELAY_LOCK_ID})
            if not locked:
                return 0
            rows = await acceptance.unrecorded(
                conn,
                older_than_s=settings.relay_grace_s,
                attempts_max=settings.relay_attempts_max,
                limit=settings.relay_batch_max,
            )
            recorded = await queries.recorded_jobs(conn, [row.job_id for row in rows])
            await acceptance.mark_recorded(conn, sorted(recorded))
            due = [row for row in rows if row.job_id not in recorded and _due(row, settings.relay_grace_s)]
            if not due:
                return len(recorded)
            outcomes = await asyncio.gather(
                *(
                    self._publisher.submit(row.workspace_id, row.event, timeout_s=settings.publish_timeout_s)
                    for row in due
                ),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(
                    outcome, (ServiceUnavailable, PublishAmbiguous)
                ):
                    raise outcome
            published = [row.job_id for row, outcome in zip(due, outcomes, strict=True) if outcome is None]
            await acceptance.count_relayed(conn, [row.job_id for row in due])
            await acceptance.mark_acknowledged(conn, published)
        log.warning(
            "outbox relay: %d job(s) not recorded by the ledger published again (%d acknowledged): %s",
            len(due),
            len(published),
            ", ".join(row.job_id for row in due[:10]),
        )
        return len(recorded) + len(due)


def _due(row: acceptance.Unrecorded, grace_s: float) -> bool:
    """Publish again a job the broker never acknowledged; one it did, only once its deadline has passed
    unrecorded (the broker lost it, or the ledger dropped it): the ledger then ends it as expired."""
    if not row.acknowledged:
        return True
    return row.deadline_at is not None and row.deadline_at + timedelta(seconds=grace_s) < utc_now()
