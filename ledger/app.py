"""The ledger's Faust app: the admission and settlement agents, partitioned by workspace id.

Faust is run at-least-once. Exactly-once money comes from the idempotent PostgreSQL writes: an agent commits
its database transaction, then publishes what follows and waits for the broker's acknowledgement, and only
then moves on, so the offset Faust commits is always behind work that is durably done. A crash anywhere
replays the event; the replay finds its idempotency key and re-publishes the same outcome.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ledger import admission, expiry, settlement
from ledger.settings import LedgerSettings
from runtime.readiness import mark_ready
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted, Envelope, JobFinished, UsageRecorded, decode, encode

log = logging.getLogger(__name__)


def create_engine(settings: LedgerSettings) -> AsyncEngine:
    # No pre-ping: it costs a round trip per batch, and a batch that meets a dead connection is retried anyway.
    return create_async_engine(settings.database_url, pool_size=settings.db_pool_size)


class Ledger:
    """Holds the app's collaborators; the agents below are its two consume loops."""

    def __init__(self, settings: LedgerSettings, catalogue: Catalogue, engine: AsyncEngine) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.engine = engine
        self.app = faust.App(
            settings.ledger_app_id,
            broker=f"kafka://{settings.kafka_bootstrap_servers}",
            store="memory://",
            web_enabled=False,
            topic_partitions=topics.LEDGER_PARTITIONS,
            topic_allow_declare=False,
            key_serializer="raw",
            value_serializer="raw",
            producer_linger=settings.kafka_linger_ms / 1000,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=100,
            broker_commit_interval=0.5,
            broker_session_timeout=settings.ledger_session_timeout_s,
            broker_heartbeat_interval=settings.ledger_session_timeout_s / 4,
            # One record-size limit for every hop (runtime/settings.py, kafka_message_max_bytes).
            producer_max_request_size=settings.kafka_message_max_bytes,
            consumer_max_fetch_size=settings.kafka_message_max_bytes,
        )
        prefix = settings.topic_prefix
        self.submitted = self.app.topic(topics.prefixed(prefix, topics.JOBS_SUBMITTED))
        self.usage = self.app.topic(topics.prefixed(prefix, topics.JOBS_USAGE))
        self.app.agent(self.submitted, name="admission")(self._admission_agent)
        self.app.agent(self.usage, name="settlement")(self._settlement_agent)
        self.app.timer(0.2, on_leader=False)(self._announce_ready)
        self.app.timer(settings.expiry_sweep_interval_s, on_leader=True)(self._sweep_overdue)
        self._ready = False

    async def _announce_ready(self) -> None:
        if not self._ready and self.app.consumer.assignment():
            self._ready = True
            mark_ready(self.settings.ready_file)
            log.info("ledger ready: partitions assigned")

    async def _sweep_overdue(self) -> None:
        """On the leader only: turn jobs stuck past their deadline into `expired` usage for settlement."""
        try:
            async with self.engine.connect() as conn:
                overdue = await expiry.overdue_jobs(
                    conn, deadline_s=self.settings.job_deadline_s, limit=self.settings.expiry_sweep_max
                )
            await self._publish(
                [
                    (
                        topics.JOBS_USAGE,
                        topics.ledger_key(workspace_id),
                        expiry.expiry_of(job_id, workspace_id, self.settings.job_deadline_s),
                    )
                    for job_id, workspace_id in overdue
                ]
            )
        except Exception:
            # The next sweep finds the same jobs: nothing is lost by skipping this one.
            log.exception("expiry sweep failed; retrying at the next interval")

    async def _publish(self, outgoing: list[tuple[str, bytes, Envelope]]) -> None:
        """Send every outcome of a batch, then wait for all acknowledgements before the batch is acked."""
        pending = [
            await self.app.producer.send(
                topics.prefixed(self.settings.topic_prefix, topic), key, encode(event), None, None, None
            )
            for topic, key, event in outgoing
        ]
        await asyncio.gather(*pending)

    async def _process(self, batch: list[bytes], handle: Callable[[list[bytes]], Awaitable[None]]) -> None:
        """Run one batch to completion, retrying (every step is idempotent); never let Faust ack a failure.

        A failure must not escape into Faust's supervisor, which would restart the agent past the batch:
        after the retries run out the process exits at once, before any offset of the batch is committed,
        and the batch is redelivered to whichever worker takes the partitions over.
        """
        for attempt in range(1, self.settings.ledger_attempts_max + 1):
            try:
                await handle(batch)
                return
            except Exception:
                log.exception("ledger batch failed (attempt %d of %d)", attempt, self.settings.ledger_attempts_max)
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
        log.critical("ledger batch keeps failing; exiting without committing its offsets")
        os._exit(70)

    async def _admit_batch(self, batch: list[bytes]) -> None:
        """One database transaction for the whole batch: one commit (one WAL flush) instead of one per job."""
        jobs = [decode(ChatJobSubmitted, payload) for payload in batch]
        async with self.engine.begin() as conn:
            outcomes = await admission.admit(conn, self.catalogue, jobs)
        outgoing: list[tuple[str, bytes, Envelope]] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, JobFinished):
                outgoing.append((topics.JOBS_RESULTS, topics.job_key(job.job_id), outcome))
            elif outcome is not None:
                dispatch_topic, dispatch = outcome
                outgoing.append((dispatch_topic, topics.job_key(job.job_id), dispatch))
        await self._publish(outgoing)

    async def _settle_batch(self, batch: list[bytes]) -> None:
        usages = [decode(UsageRecorded, payload) for payload in batch]
        async with self.engine.begin() as conn:
            finished = await settlement.settle(conn, self.catalogue, usages)
        await self._publish([(topics.JOBS_RESULTS, topics.job_key(job.job_id), job) for job in finished])

    async def _admission_agent(self, stream: Any) -> None:
        await self._consume_in_batches(stream, self._admit_batch)

    async def _settlement_agent(self, stream: Any) -> None:
        await self._consume_in_batches(stream, self._settle_batch)

    async def _consume_in_batches(self, stream: Any, handle: Callable[[list[bytes]], Awaitable[None]]) -> None:
        """Opportunistic batching: take every event already waiting, never wait for more.

        A lone sync request is processed the moment it arrives (Faust's `take` would hold it for its
        `within`), while under load the queue fills during each transaction and batches grow by themselves.
        Acks are manual and come only after the batch is committed and its outcomes are acknowledged.
        """
        manual = stream.noack()
        waiting = manual.channel.queue
        batch: list[Any] = []
        async for event in manual.events():
            batch.append(event)
            if len(batch) < self.settings.ledger_batch_max and not waiting.empty():
                continue
            await self._process([e.value for e in batch], handle)
            for done in batch:
                await manual.ack(done)
            batch = []


def create_ledger(settings: LedgerSettings) -> Ledger:
    catalogue = settings.load_catalogue()
    return Ledger(settings, catalogue, create_engine(settings))
