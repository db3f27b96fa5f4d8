"""The batch feeder: releases stored batch lines as jobs, holding credit job by job, fairly across workspaces.

One tick (one ledger instance at a time, by a PostgreSQL advisory lock), in one transaction:
1. adopt batches stored since the last tick, and move a batch whose cancel was asked to `cancelling`, one past
   its completion window to `expiring` (neither releases another line; their unreleased lines hold nothing);
2. choose the lines to release: at most `in_flight_max` batch jobs per pool are held and unsettled at once,
   shared round-robin across workspaces (`ledger/batch_fairness.py`);
3. lock the workspaces' accounts and keep, per workspace, the prefix of its lines whose holds fit its available
   credit; the rest wait (`waiting_for_credit`), and the workspace's batches are not read again until its available
   credit above its floor could pay the hold it ran short of (`credit_needed_tokens`, compared each tick with the
   account read beside the batches: a top-up, grant, settlement or raised credit line lets them go on at the next
   tick) or `credit_recheck_s` (`LUNTREX_BATCH_CREDIT_RECHECK_S`) has passed; and per batch the prefix its key's
   and workspace's rate limits and spend caps let through now; the rest wait (`throttled_until`), and the batch is
   not looked at again before then (`ledger/batch_gate.py`; a spend cap at least every `cap_recheck_s`,
   `LUNTREX_BATCH_CAP_RECHECK_S`);
4. admit the kept lines through the ledger's one admission path (`ledger.admission.admit`: price book, holds,
   rate limits and spend caps, deadlines = the batch's window), and advance each batch's `next_line`.
A suspended workspace's batches release no line (the flag is read with the batches): their lines wait, holding
nothing, until it is resumed, and expire unreleased at the window's end; a suspension waits for a running tick to
commit (`exclude_ticks`), so nothing is released after it has answered. Jobs released before it run and are billed.
A batch is throttled by its limits, never failed by them: lines still waiting at the window's end expire
unreleased, holding and costing nothing, like lines waiting for credit.
After the commit the dispatches go to `dispatch.<pool>.batch` and are marked dispatched, as admission does.
A feeder that dies between the commit and the publish leaves held, undispatched jobs: the next tick past
`redispatch_grace_s` dispatches them again (a duplicate dispatch is billed once by settlement).

Every job is settled by the normal settlement path; a job left queued at its batch's window end is expired by
the expiry sweep (its hold released, nothing charged). A batch reaches its terminal state in one place,
`_finish` below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import (
    admission,
    admission_reads,
    batch_fairness,
    batch_gate,
    batch_queries,
    batch_store,
    limits,
    webhook_events,
)
from ledger.batch_store import Feed, PendingLine
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, ChatJobSubmitted, Envelope, JobFinished

log = logging.getLogger(__name__)

Outgoing = list[tuple[str, bytes, Envelope]]
Publish = Callable[[Outgoing], Awaitable[None]]

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


@dataclass(frozen=True, slots=True)
class FeedPolicy:
    in_flight_max: int
    release_max: int
    quantum: int
    redispatch_grace_s: float
    # While interactive jobs are in flight (or were admitted moments ago), batch jobs in flight per pool are held
    # to this: batches keep going, but their share of the ledger, the workers and the database stays small, so
    # sync callers are not slowed by them.
    in_flight_shared_max: int = 64
    # ...and at most this many batch jobs are released per second (a token bucket of half a second's worth):
    # what a batch job costs the shared machine is then bounded whatever the latency of the pipeline.
    shared_jobs_per_s: float = 50.0
    # How often held, never-dispatched batch jobs are looked for (they wait `redispatch_grace_s` anyway).
    redispatch_check_s: float = 5.0
    # How often batches stored since are looked for (a new batch waits at most this long to start).
    adopt_every_s: float = 0.2
    # A batch refused by a spend cap is tried again at least this often (running jobs' settlements free some of
    # the cap, an administrator may raise it); one refused by a rate limit waits for the window's end.
    # (`LUNTREX_BATCH_CAP_RECHECK_S`)
    cap_recheck_s: float = 1.0
    # A workspace waiting for credit is tried again at least this often even if its credit has not grown enough
    # for the hold it ran short of: a new price may have made that hold smaller. One re-read of its lines (a few
    # ms for a 5,000-line batch) every few seconds costs nothing worth counting. (`LUNTREX_BATCH_CREDIT_RECHECK_S`)
    credit_recheck_s: float = 5.0


@dataclass(slots=True)
class Tick:
    """What one tick decided, to publish after its commit."""

    outgoing: Outgoing = field(default_factory=list)
    dispatched: list[str] = field(default_factory=list)
    released: int = 0
    finished: list[tuple[str, str]] = field(default_factory=list)
    # Some batch was unfinished; batches got only their shared cap (interactive jobs were about).
    active: bool = False
    shared: bool = False
    # Pending lines read from the store, and batches skipped because their workspace still cannot pay for them.
    lines_read: int = 0
    waiting_for_credit: int = 0
    # Batches skipped because their workspace is suspended.
    suspended: int = 0


def feeder_lock_key(app_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"luntrex batch feeder {app_id}".encode()).digest()[:8], "big", signed=True)


async def exclude_ticks(conn: AsyncConnection, lock_key: int) -> None:
    """Wait for a running tick to commit, and keep any other from starting, until `conn`'s transaction ends.

    A suspension takes it before it commits: a tick that read the workspace as not suspended has committed what it
    released before the suspension is answered, and every later tick reads it suspended. So no line is released
    after the operator's suspend has answered (a tick lasts milliseconds; the suspend waits at most that)."""
    await conn.execute(_LOCK, {"key": lock_key})


class BatchFeeder:
    def __init__(self, engine: AsyncEngine, catalogue: Catalogue, policy: FeedPolicy, *, lock_key: int) -> None:
        self.engine = engine
        self.catalogue = catalogue
        self.policy = policy
        self.lock_key = lock_key
        self.rotation = 0
        self.pool_of = {model.id: model.pool for model in catalogue.models}
        self._redispatch_checked = -math.inf
        self._adopted = -math.inf
        # The shared mode's token bucket: jobs it may release now, and when it was last filled.
        self._shared_tokens = 0.0
        self._shared_filled = time.monotonic()

    async def tick(self, publish: Publish, *, now: datetime, interactive_recent: bool = False) -> Tick:
        """One pass; publishes what it released once it has committed. Returns what it did.

        `interactive_recent`: this process admitted interactive jobs moments ago (another instance's are seen
        as queued jobs): batches then get their shared cap only."""
        self.rotation += 1
        async with self.engine.begin() as conn:
            if not bool((await conn.execute(_TRY_LOCK, {"key": self.lock_key})).scalar_one()):
                return Tick()
            result = await self._decide(conn, now, interactive_recent)
        if result.outgoing:
            await publish(result.outgoing)
        if result.dispatched:
            await admission.mark_dispatched(self.engine, result.dispatched)
        if result.released:
            log.debug("batch feeder: %d jobs released", result.released)
        return result

    async def _decide(self, conn: AsyncConnection, now: datetime, interactive_recent: bool) -> Tick:
        result = Tick()
        if time.monotonic() - self._adopted >= self.policy.adopt_every_s:
            self._adopted = time.monotonic()
            await batch_store.adopt_new(conn)
        feeds = await self._advance_states(conn, await batch_store.active(conn), now)
        # A suspended workspace's batches release nothing (the flag is read with the batches, one join): their
        # lines wait holding nothing until it is resumed, or expire at the window's end; jobs released before go on.
        suspended = {feed.batch_id for feed in feeds if feed.status == "in_progress" and feed.suspended}
        # A batch waiting for a limit is not looked at again before the limit may let it through (no lines read,
        # no accounts locked for it); with only such batches the feeder idles, as with none.
        throttled = {
            feed.batch_id
            for feed in feeds
            if feed.status == "in_progress" and feed.batch_id not in suspended and feed.throttled_at(now)
        }
        # Nor is a workspace waiting for credit it still lacks (every batch of it: a workspace that ran short waits
        # with all its batches, so a later batch never overtakes the one waiting).
        starved = _starved(feeds, throttled | suspended, now)
        result.waiting_for_credit = len(starved)
        result.suspended = len(suspended)
        result.active = len(feeds) > len(throttled) + len(starved) + len(suspended)
        if time.monotonic() - self._redispatch_checked >= self.policy.redispatch_check_s:
            self._redispatch_checked = time.monotonic()
            await self._redispatch(conn, result)
        # Finished batches first, so the workspaces' accounts are locked (below) for as short a time as can be.
        releasing = [feed for feed in feeds if not await self._finish_if_done(conn, feed, result)]
        waiting = throttled | starved | suspended
        releasing = [feed for feed in releasing if feed.status == "in_progress" and feed.batch_id not in waiting]
        if releasing:
            await self._release(conn, releasing, now, result, interactive_recent)
        return result

    async def _advance_states(self, conn: AsyncConnection, feeds: list[Feed], now: datetime) -> list[Feed]:
        advanced = []
        for feed in feeds:
            status = feed.status
            if status == "in_progress" and feed.cancel_requested:
                status = "cancelling"
            elif status == "in_progress" and now >= feed.expires_at:
                status = "expiring"
            if status != feed.status:
                await batch_store.set_status(conn, feed.batch_id, status)
                feed = dataclasses.replace(feed, status=status)
            advanced.append(feed)
        return advanced

    async def _release(
        self, conn: AsyncConnection, feeds: list[Feed], now: datetime, result: Tick, interactive_recent: bool
    ) -> None:
        queued = await batch_store.in_flight_by_model(conn)
        in_flight: dict[str, int] = {}
        for model_id, count in queued.batch.items():
            pool = self.pool_of.get(model_id, "")
            in_flight[pool] = in_flight.get(pool, 0) + count
        # Interactive work anywhere shares the same ledger, workers and database: batches step back everywhere.
        result.shared = interactive_recent or bool(queued.interactive)
        cap = self.policy.in_flight_shared_max if result.shared else self.policy.in_flight_max
        free = {pool: cap - in_flight.get(pool, 0) for pool in self.catalogue.pools()}
        if all(slots <= 0 for slots in free.values()):
            return
        # Never read more lines than could be released now: the free slots bound the tick as much as its budget.
        budget = min(self.policy.release_max, sum(max(slots, 0) for slots in free.values()))
        if result.shared:
            budget = min(budget, self._shared_allowance())
        # A tick costs a dozen statements whatever it releases: while jobs are in flight, wait until half the
        # cap is free (a quarter while sharing, within what the bucket holds) rather than release a few per tick.
        slice_min = max(1, min(cap // 4, int(self.policy.shared_jobs_per_s / 2)) if result.shared else cap // 2)
        if sum(in_flight.values()) and budget < slice_min:
            return
        # The same, per pool: a batch is released as a prefix, so one whose next line's pool is full (or, with
        # batch jobs running there, has less than the slice free) would release nothing, or a few, whatever the
        # other pools' free slots; its lines are not read this tick.
        feeds = [feed for feed in feeds if _may_release(feed.next_pool, free, in_flight, slice_min)]
        if not feeds:
            return
        by_workspace: dict[str, list[Feed]] = {}
        for feed in feeds:
            by_workspace.setdefault(feed.workspace_id, []).append(feed)
        per_workspace = budget // len(by_workspace) + self.policy.quantum
        lines: dict[tuple[str, int], PendingLine] = {}
        candidates: dict[str, list[batch_fairness.Candidate]] = {}
        for workspace_id, own in by_workspace.items():
            # A workspace coming out of a credit wait (credit came back, or its recheck is due) may well be short
            # again after a line or two: it gets one quantum this tick, its full share from the next if it was not.
            share = per_workspace
            if any(feed.credit_needed_tokens is not None for feed in own):
                share = min(share, self.policy.quantum)
            # The workspace's lines past a pool's free slots could not be released this tick (the allotment takes
            # each workspace's lines in this order): no batch reads more lines than its next pool has room for.
            room = dict(free)
            for feed in own:
                wanted = share - len(candidates.get(workspace_id, []))
                if wanted <= 0:
                    break
                wanted = min(wanted, room.get(feed.next_pool or "", 0))
                if wanted <= 0:
                    continue
                pending = await batch_store.pending_lines(conn, feed, wanted)
                result.lines_read += len(pending)
                for line in pending:
                    room[line.pool] = room.get(line.pool, 0) - 1
                    lines[(line.batch_id, line.line_no)] = line
                    candidates.setdefault(workspace_id, []).append(
                        batch_fairness.Candidate(line.batch_id, line.line_no, line.pool)
                    )
        chosen = batch_fairness.allot(
            candidates, free, budget=budget, quantum=self.policy.quantum, rotation=self.rotation
        )
        if result.shared:
            self._shared_tokens -= len(chosen)
        if chosen:
            await self._admit(conn, feeds, [lines[(c.batch_id, c.line_no)] for c in chosen], now, result)

    def _shared_allowance(self) -> int:
        """Jobs the shared mode may release now (its bucket fills at `shared_jobs_per_s`, half a second deep)."""
        now = time.monotonic()
        rate = self.policy.shared_jobs_per_s
        self._shared_tokens = min(rate / 2, self._shared_tokens + (now - self._shared_filled) * rate)
        self._shared_filled = now
        return int(self._shared_tokens)

    async def _admit(
        self, conn: AsyncConnection, feeds: list[Feed], chosen: list[PendingLine], now: datetime, result: Tick
    ) -> None:
        jobs = [ChatJobSubmitted.model_validate_json(line.job) for line in chosen]
        # Read once for the credit check below and for the admission itself: the same prices and limits, the
        # workspaces' accounts locked, and which of these jobs are recorded already (one statement).
        reads = await admission_reads.read(
            conn,
            models=admission.route_models(self.catalogue, jobs),
            job_ids=[job.job_id for job in jobs],
            keys=list({job.api_key_id for job in jobs}),
            workspaces=list({job.workspace_id for job in jobs}),
            now=now,
        )
        # What the limits used so far, read after the lock: the gate tries the lines against them, and admission
        # (handed the same book) does not read them again.
        await limits.load_usage(conn, reads.book)
        terms_cache: admission.TermsCache = {}
        gate_lines = [
            batch_gate.Line(
                line.batch_id, admission.hold_request(self.catalogue, job, reads.versions, terms_cache=terms_cache)
            )
            for line, job in zip(chosen, jobs, strict=True)
        ]
        screened = batch_gate.screen(
            gate_lines,
            reads.locked.balances,
            reads.book,
            reads.locked.previous,
            cap_recheck_s=self.policy.cap_recheck_s,
        )
        short = screened.short
        kept = [(chosen[index], jobs[index]) for index in screened.kept]
        outcomes = (
            await admission.admit(
                conn,
                self.catalogue,
                [job for _, job in kept],
                default_deadline_s=0,
                now=now,
                reads=reads,
            )
            if kept
            else []
        )
        next_lines: dict[str, int] = {}
        for (line, job), outcome in zip(kept, outcomes, strict=True):
            next_lines[line.batch_id] = max(next_lines.get(line.batch_id, 0), line.line_no + 1)
            if isinstance(outcome, tuple):
                result.outgoing.append((outcome[0], topics.job_key(job.job_id), outcome[1]))
                result.dispatched.append(job.job_id)
            elif isinstance(outcome, JobFinished):
                result.outgoing.append((topics.JOBS_RESULTS, topics.job_key(job.job_id), outcome))
        # One statement: each batch's next line, whether it waits for credit (a workspace that ran short waits
        # with every batch it has, for the hold it could not pay; one that had credit for its next holds no longer
        # does), and until when it waits for a limit (one tried and not refused by a limit no longer does).
        recheck_at = now + timedelta(seconds=self.policy.credit_recheck_s)
        await batch_store.advance(
            conn,
            [
                batch_store.Advance(
                    feed.batch_id,
                    next_lines.get(feed.batch_id),
                    feed.workspace_id in short,
                    screened.throttled.get(feed.batch_id),
                    feed.batch_id in screened.tried,
                    short.get(feed.workspace_id),
                    recheck_at if feed.workspace_id in short else None,
                )
                for feed in feeds
            ],
        )
        result.released += len(kept)

    async def _redispatch(self, conn: AsyncConnection, result: Tick) -> None:
        rows = await batch_store.undispatched(
            conn, grace_s=self.policy.redispatch_grace_s, limit=self.policy.release_max
        )
        for row in rows:
            job = ChatJobSubmitted.model_validate_json(row.job)
            dispatch = ChatJobDispatched(
                workspace_id=job.workspace_id,
                job_id=job.job_id,
                model_id=job.model_id,
                route=job.route,
                hold_tokens=row.hold_tokens,
                params=job.params,
                lane="batch",
                deadline_at=job.deadline_at,
            )
            topic = topics.dispatch_topic(row.pool, topics.Lane.BATCH)
            result.outgoing.append((topic, topics.job_key(job.job_id), dispatch))
            result.dispatched.append(job.job_id)
        if rows:
            log.warning("batch feeder: %d held batch jobs were never dispatched; dispatching them again", len(rows))

    async def _finish_if_done(self, conn: AsyncConnection, feed: Feed, result: Tick) -> bool:
        """End the batch if every line has run (or will never run); True if it has ended."""
        if feed.status == "in_progress" and feed.has_pending:
            return False
        if await batch_store.running(conn, feed.batch_id):
            return False
        status = {"in_progress": "completed", "cancelling": "cancelled", "expiring": "expired"}[feed.status]
        if await batch_store.finish(conn, feed.batch_id, status):
            await _finish(conn, feed, status)
            result.finished.append((feed.batch_id, status))
        return True


def _may_release(pool: str | None, free: dict[str, int], in_flight: dict[str, int], slice_min: int) -> bool:
    """Whether a batch whose next line is in `pool` (None: no line pending) is worth reading this tick."""
    if pool is None or free.get(pool, 0) <= 0:
        return False
    return not in_flight.get(pool, 0) or free[pool] >= slice_min


def _starved(feeds: list[Feed], throttled: set[str], now: datetime) -> set[str]:
    """The running batches of workspaces waiting for credit they still lack (any of their batches says so)."""
    running = [feed for feed in feeds if feed.status == "in_progress" and feed.batch_id not in throttled]
    waiting = {feed.workspace_id for feed in running if feed.starved_at(now)}
    return {feed.batch_id for feed in running if feed.workspace_id in waiting}


async def _finish(conn: AsyncConnection, feed: Feed, status: str) -> None:
    """THE place a batch reaches its terminal state (`completed`, `cancelled` or `expired`), in the transaction
    that records it: every job of the batch is settled (or was never released), so its `batch.completed` event
    carries final counts and cost. The event id `batch:<id>` keeps a replayed finish from delivering twice."""
    counts, cost_tokens = await batch_queries.final_counts(conn, feed.batch_id, status)
    data = {"id": feed.batch_id, "object": "batch", "status": status, "counts": counts, "cost_tokens": cost_tokens}
    await webhook_events.record_webhook_event(
        conn,
        workspace_id=feed.workspace_id,
        event_type="batch.completed",
        event_id=f"batch:{feed.batch_id}",
        data=data,
    )
    log.info("batch %s of workspace %s ended %s", feed.batch_id, feed.workspace_id, status)
