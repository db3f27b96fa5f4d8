"""One model pool: consumes its dispatch topics, runs jobs concurrently, publishes usage, commits in order.

A job's offset is committed only after its `UsageRecorded` is acknowledged by the broker. A crash before
that redelivers the job; the provider may then be called twice, but the ledger settles a job once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from runtime.kafka import new_consumer
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, decode, encode
from workers import execution
from workers.offsets import OffsetTracker
from workers.retry import RetryPolicy
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pool.commit()
        self._pool.tracker.forget(set(revoked))

    async def on_partitions_assigned(self, _assigned: set[TopicPartition]) -> None:
        return None


class ModelPool:
    def __init__(
        self,
        name: str,
        settings: WorkerSettings,
        catalogue: Catalogue,
        providers: Mapping[str, execution.ProviderSlot],
        producer: AIOKafkaProducer,
    ) -> None:
        self.name = name
        self.settings = settings
        self.catalogue = catalogue
        self.providers = providers
        self.producer = producer
        self.tracker = OffsetTracker()
        self.policy = RetryPolicy(settings.attempts_per_model_max, settings.backoff_base_s, settings.backoff_max_s)
        self._slots = asyncio.Semaphore(settings.pool_concurrency_max)
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._usage_topic = topics.prefixed(settings.topic_prefix, topics.JOBS_USAGE)

    async def start(self) -> None:
        lanes = [
            topics.prefixed(self.settings.topic_prefix, topics.dispatch_topic(self.name, lane)) for lane in topics.Lane
        ]
        self._consumer = new_consumer(self.settings, group_id=f"{self.settings.topic_prefix}luntrex-pool-{self.name}")
        self._consumer.subscribe(lanes, listener=_CommitOnRevoke(self))
        await self._consumer.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self.commit()
            await self._consumer.stop()

    async def commit(self) -> None:
        assert self._consumer is not None
        positions = self.tracker.committable()
        assigned = self._consumer.assignment()
        positions = {tp: offset for tp, offset in positions.items() if tp in assigned}
        if positions:
            await self._consumer.commit(positions)
            self.tracker.mark_committed(positions)

    async def run(self) -> None:
        assert self._consumer is not None
        committer = asyncio.create_task(self._commit_periodically())
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        await self._slots.acquire()
                        self.tracker.started(tp, record.offset)
                        task = asyncio.create_task(self._handle(tp, record.offset, record.value))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
        finally:
            committer.cancel()

    async def _commit_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval_s)
            try:
                await self.commit()
            except Exception:
                log.exception("pool %s: offset commit failed; will retry", self.name)

    async def _handle(self, tp: TopicPartition, offset: int, payload: bytes) -> None:
        try:
            try:
                job = decode(ChatJobDispatched, payload)
            except ValueError:
                # Not ours to bill or to retry: a malformed dispatch can never succeed, so it is skipped loudly.
                log.critical("pool %s: undecodable dispatch at %s@%d skipped", self.name, tp, offset)
                self.tracker.done(tp, offset)
                return
            try:
                usage = await execution.execute(job, self.catalogue, self.providers, self.policy)
            except Exception:
                log.exception(
                    "pool %s: job %s crashed; reporting it failed so its hold is released", self.name, job.job_id
                )
                usage = execution.internal_failure(job)
            await self._publish(job.workspace_id, encode(usage))
            self.tracker.done(tp, offset)
        finally:
            self._slots.release()

    async def _publish(self, workspace_id: str, value: bytes) -> None:
        """Usage must reach the ledger: retry the send until the broker takes it."""
        delay_s = 0.1
        while True:
            try:
                await self.producer.send_and_wait(self._usage_topic, value, key=topics.ledger_key(workspace_id))
                return
            except Exception:
                log.exception("pool %s: publishing usage failed; retrying in %.1fs", self.name, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
