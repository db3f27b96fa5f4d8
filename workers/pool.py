"""One model pool: consumes its dispatch topics, runs jobs concurrently, publishes usage, commits in order.

A job's offset is committed only after its `UsageRecorded` is acknowledged by the broker. A crash before
that redelivers the job; the provider may then be called twice, but the ledger settles a job once.

The poll loop never blocks on work: when `pool_concurrency_max` jobs are in flight the pool pauses its
partitions and keeps polling (so the group never takes it for dead and hands its jobs to another member),
and resumes as soon as a job finishes. On a rebalance it waits (briefly) for the jobs of the partitions it
gives up and commits them, so the next owner does not run them again. Following the one consume policy
(runtime/consume.py), a dispatch that cannot be read is dead-lettered and its job, when it names one, is
reported failed so its hold is released; usage is published until the broker takes it, and an event too
big for Kafka is replaced by a failure without the answer.

A pool is one lane of a model pool: `dispatch.<pool>.interactive` or `dispatch.<pool>.batch`, each with its own
consumer group, consumer and in-flight cap (`pool_concurrency_max`, `pool_batch_concurrency_max`), so a batch
backlog never sits in front of an interactive job; at a provider's cap the lanes meet in workers/lanes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord

from runtime import logs
from runtime.consume import Backoff, PermanentFailure, Verdict, classify, dead_letter, job_identity, retry_transient
from runtime.kafka import new_consumer
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, ChatStreamDelta, JobError, UsageRecorded, decode, encode
from workers import execution, streaming
from workers.early_start import EarlyStarts
from workers.offsets import OffsetTracker
from workers.retry import RetryPolicy
from workers.settings import WorkerSettings
from workers.telemetry import WorkerTelemetry

log = logging.getLogger(__name__)

PUBLISH_BACKOFF = Backoff(initial_s=0.1, max_s=5.0)


def pool_group(prefix: str, pool: str, lane: topics.Lane) -> str:
    """The consumer group of one lane of a pool (the interactive lane keeps the group both lanes once shared)."""
    group = f"{prefix}luntrex-pool-{pool}"
    return group if lane is topics.Lane.INTERACTIVE else f"{group}.{lane.value}"


class UnreadableDispatch(PermanentFailure):
    """A dispatch no retry can run: it does not decode, or names a model the catalogue no longer has."""

    def __init__(self, reason: str, code: ErrorCode) -> None:
        super().__init__(reason)
        self.code = code


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._pool.early_starts is not None:
            self._pool.early_starts.revoke(revoked)
        # Jobs of these partitions that finish now are committed here instead of running again elsewhere.
        await self._pool.drain(set(revoked))
        await self._pool.commit()
        self._pool.tracker.forget(set(revoked))

    async def on_partitions_assigned(self, _assigned: set[TopicPartition]) -> None:
        # Newly assigned partitions start unpaused; a saturated pool must not take records from them.
        self._pool.apply_backpressure()


class ModelPool:
    def __init__(
        self,
        name: str,
        settings: WorkerSettings,
        catalogue: Catalogue,
        providers: Mapping[str, execution.ProviderSlot],
        producer: AIOKafkaProducer,
        *,
        lane: topics.Lane = topics.Lane.INTERACTIVE,
        telemetry: WorkerTelemetry | None = None,
    ) -> None:
        self.name = name
        self.lane = lane
        # The pool's lane as a metrics label: pools come from the catalogue and lanes are two, so it is bounded.
        self._consumer_label = f"workers.{name}.{lane}"
        self.telemetry = telemetry
        self.concurrency_max = (
            settings.pool_concurrency_max if lane is topics.Lane.INTERACTIVE else settings.pool_batch_concurrency_max
        )
        self.settings = settings
        self.catalogue = catalogue
        self.providers = providers
        self.producer = producer
        self.tracker = OffsetTracker()
        self.policy = RetryPolicy(settings.attempts_per_model_max, settings.backoff_base_s, settings.backoff_max_s)
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: dict[asyncio.Task[None], TopicPartition] = {}
        # Set when a job finishes: there may be an offset to commit.
        self._job_finished = asyncio.Event()
        self.group_id = pool_group(settings.topic_prefix, name, lane)
        self._usage_topic = topics.prefixed(settings.topic_prefix, topics.JOBS_USAGE)
        self._dead_letter_topic = topics.prefixed(settings.topic_prefix, topics.DEAD_LETTERS)
        self._stream_topic = topics.prefixed(settings.topic_prefix, topics.JOBS_STREAM)
        # Ingress sends early starts to interactive lanes only (a batch job's caller waits for no first token).
        self.early_starts = (
            EarlyStarts(
                catalogue,
                providers,
                self._publish_delta,
                calls_max=settings.early_start_calls_max,
                claim_wait_s=settings.early_start_claim_wait_s,
                fresh_s=settings.early_start_fresh_s,
                deltas_before_hold=settings.early_start_deltas_before_hold,
                counted=lambda outcome: telemetry.early_start(name, outcome) if telemetry is not None else None,
            )
            if lane is topics.Lane.INTERACTIVE and settings.early_start_calls_max > 0
            else None
        )

    async def start(self) -> None:
        topic = topics.prefixed(self.settings.topic_prefix, topics.dispatch_topic(self.name, self.lane))
        self._consumer = new_consumer(
            self.settings,
            group_id=self.group_id,
            max_poll_interval_ms=self.settings.kafka_max_poll_interval_ms,
        )
        self._consumer.subscribe([topic], listener=_Rebalance(self))
        await self._consumer.start()
        if self.telemetry is not None and self.telemetry.metrics is not None:
            self.telemetry.metrics.in_flight.labels(self.name).set_function(self.in_flight)

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if self.early_starts is not None:
            self.early_starts.close()
        for task in list(self._tasks):
            task.cancel()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await self._commit(consumer)
            await consumer.stop()

    async def commit(self) -> None:
        if self._consumer is not None:
            await self._commit(self._consumer)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        positions = self.tracker.committable()
        assigned = consumer.assignment()
        positions = {tp: offset for tp, offset in positions.items() if tp in assigned}
        if positions:
            await consumer.commit(positions)
            self.tracker.mark_committed(positions)

    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, partitions: set[TopicPartition]) -> None:
        """Wait, up to `revoke_wait_s`, for the jobs of partitions about to be taken away."""
        leaving = [task for task, tp in self._tasks.items() if tp in partitions]
        if leaving:
            _, unfinished = await asyncio.wait(leaving, timeout=self.settings.revoke_wait_s)
            if unfinished:
                log.warning("pool %s: %d jobs still running on revoked partitions", self.name, len(unfinished))

    def apply_backpressure(self) -> None:
        """Pause every assigned partition while the pool is full; resume them all once a slot is free."""
        consumer = self._consumer
        if consumer is None:
            return
        if len(self._tasks) >= self.concurrency_max:
            running = consumer.assignment() - consumer.paused()
            if running:
                consumer.pause(*running)
        elif paused := consumer.paused():
            consumer.resume(*paused)

    async def run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        committer = asyncio.create_task(self._commit_periodically())
        failures = 0
        try:
            while True:
                if committer.done():
                    # The committer never returns; one that died takes the pool down loudly, not silently.
                    committer.result()
                    raise RuntimeError(f"pool {self.name}: the offset committer stopped")
                self.apply_backpressure()
                free = self.concurrency_max - len(self._tasks)
                try:
                    # Polling goes on while paused: a group member that keeps polling is alive, however long
                    # its jobs take. At most one record beyond the limit can arrive (from a partition
                    # assigned mid-poll); it runs rather than wait.
                    batches = await consumer.getmany(timeout_ms=self.settings.poll_wait_ms, max_records=max(free, 1))
                except KafkaError as error:
                    if classify(error) is Verdict.PERMANENT:
                        raise
                    failures += 1
                    log.warning("pool %s: poll failed transiently (%s); retrying", self.name, error)
                    await asyncio.sleep(PUBLISH_BACKOFF.delay_s(failures))
                    continue
                failures = 0
                for tp, records in batches.items():
                    for record in records:
                        self._start(tp, record)
        finally:
            committer.cancel()

    def _start(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if _is_early_start(record.headers):
            # A head start, not a job: done as soon as it is read (its job's dispatch follows and is the job).
            self.tracker.started(tp, record.offset)
            self.tracker.done(tp, record.offset)
            if self.early_starts is not None:
                self.early_starts.offer(record.value or b"", record.timestamp, tp)
            return
        if self.telemetry is not None:
            self.telemetry.taken(self._consumer_label, record.timestamp)
        self.tracker.started(tp, record.offset)
        task = asyncio.create_task(self._handle_traced(tp, record))
        self._tasks[task] = tp
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._job_finished.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("pool %s: a job task failed", self.name, exc_info=task.exception())
        self.apply_backpressure()

    async def _commit_periodically(self) -> None:
        """Commit `commit_interval_s` after a job finishes, whatever finished meanwhile; an idle pool sleeps until
        its next job ends instead of waking every interval to find nothing to commit."""
        while True:
            await self._job_finished.wait()
            await asyncio.sleep(self.settings.commit_interval_s)
            # Cleared before reading what is committable: a job ending during the commit sets it again.
            self._job_finished.clear()
            try:
                await self.commit()
            except KafkaError:
                log.exception("pool %s: offset commit failed; will retry", self.name)
                self._job_finished.set()

    async def _handle_traced(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        """`_handle` inside the job's span (a child of the ledger's hold), when tracing is on."""
        tracing = self.telemetry.tracing if self.telemetry is not None else None
        if tracing is None or not tracing.enabled:
            await self._handle(tp, record)
            return
        with tracing.span(f"worker {self.name}", parent=tracing.context_of(record.headers), kind="consumer"):
            await self._handle(tp, record)

    async def _handle(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            job = self._read(record.value)
        except UnreadableDispatch as error:
            await self._refuse(record, error)
            self.tracker.done(tp, record.offset)
            return
        logs.bind(job_id=job.job_id, workspace_id=job.workspace_id)
        early = self.early_starts.claim(job) if self.early_starts is not None else None
        try:
            if job.params.stream:
                usage = await streaming.execute_stream(
                    job, self.catalogue, self.providers, self.policy, self._publish_delta, early=early
                )
            else:
                usage = await execution.execute(
                    job,
                    self.catalogue,
                    self.providers,
                    self.policy,
                    lane=self.lane,
                    telemetry=self.telemetry,
                    early=early,
                )
        except Exception:
            log.exception("pool %s: job %s crashed; reporting it failed so its hold is released", self.name, job.job_id)
            usage = execution.internal_failure(job)
        if self.telemetry is not None:
            self.telemetry.job_finished(self.name, job, usage)
            with self.telemetry.publishing(self._consumer_label):
                await self._publish_usage(usage)
        else:
            await self._publish_usage(usage)
        self.tracker.done(tp, record.offset)

    def _read(self, payload: bytes | None) -> ChatJobDispatched:
        try:
            job = decode(ChatJobDispatched, payload or b"")
        except ValueError as exc:
            raise UnreadableDispatch(f"undecodable dispatch: {exc}", ErrorCode.INTERNAL) from exc
        if not job.route:
            raise UnreadableDispatch("the dispatch has an empty route", ErrorCode.INTERNAL)
        unknown = [model_id for model_id in job.route if self.catalogue.resolve(model_id) is None]
        if unknown:
            raise UnreadableDispatch(
                f"the route names models not in the catalogue: {unknown}", ErrorCode.MODEL_NOT_FOUND
            )
        return job

    async def _refuse(self, record: ConsumerRecord[bytes, bytes], error: UnreadableDispatch) -> None:
        """Dead-letter a dispatch no retry can run and, when it names its job, fail that job (releasing its hold)."""
        log.error(
            "pool %s: dispatch at %s[%d]@%d refused: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        letter = dead_letter(
            consumer=f"workers.{self.name}",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=list(record.headers),
            error=error,
        )
        await self._send_until_taken(self._dead_letter_topic, encode(letter), record.key)
        if self.telemetry is not None:
            self.telemetry.dead_lettered(f"workers.{self.name}")
        job_id, workspace_id = job_identity(record.value)
        if job_id is None or workspace_id is None:
            return
        message = (
            "the job's model is no longer served; nothing was charged"
            if error.code is ErrorCode.MODEL_NOT_FOUND
            else "the worker could not read the job; nothing was charged"
        )
        failed = UsageRecorded(
            workspace_id=workspace_id,
            job_id=job_id,
            outcome="failed",
            error=JobError(code=error.code, message=message),
            attempts=0,
        )
        await self._publish_usage(failed)

    async def _publish_delta(self, delta: ChatStreamDelta) -> None:
        """Hand a delta to the producer without waiting for the broker: deltas are a preview, and the billed
        answer follows in the usage event, so one lost to a broker failure costs latency, not text."""
        try:
            await self.producer.send(self._stream_topic, encode(delta), key=topics.job_key(delta.job_id))
        except KafkaError as error:
            log.warning("pool %s: a delta of job %s was not published: %s", self.name, delta.job_id, error)

    async def _publish_usage(self, usage: UsageRecorded) -> None:
        """Usage must reach the ledger; one too big for Kafka is replaced by a failure without the answer."""
        key = topics.ledger_key(usage.workspace_id)
        # The lane travels as a header: the ledger settles each lane's usage apart, without decoding it first.
        headers = [*(self._trace_headers() or ()), (topics.LANE_HEADER, self.lane.value.encode())]
        try:
            await self._send_until_taken(self._usage_topic, encode(usage), key, headers=headers)
        except MessageSizeTooLargeError:
            log.error("pool %s: usage of job %s is too large for Kafka; reporting it failed", self.name, usage.job_id)
            await self._send_until_taken(self._usage_topic, encode(_without_answer(usage)), key, headers=headers)

    async def _send_until_taken(
        self, topic: str, value: bytes, key: bytes | None, *, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Retry until the broker takes the event; only an event too big for it is given back to the caller."""
        attempt = 0
        if headers is None:
            headers = self._trace_headers()
        while True:
            try:
                await retry_transient(
                    lambda: self.producer.send_and_wait(topic, value, key=key, headers=headers),
                    what=f"pool {self.name}: publishing to {topic}",
                    backoff=PUBLISH_BACKOFF,
                )
                return
            except MessageSizeTooLargeError:
                raise
            except KafkaError:
                # Any other refusal (authorization, a missing topic) is an operator's to fix; dropping the event
                # would leave a hold standing, so keep trying, loudly.
                attempt += 1
                log.critical("pool %s: the broker refuses events for %s; retrying", self.name, topic, exc_info=True)
                await asyncio.sleep(PUBLISH_BACKOFF.delay_s(attempt))

    def _trace_headers(self) -> list[tuple[str, bytes]] | None:
        """The current job span's context for the records it publishes; None when tracing is off."""
        return self.telemetry.tracing.headers() if self.telemetry is not None else None


def _is_early_start(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(name == topics.EARLY_START_HEADER for name, _ in headers)


def _without_answer(usage: UsageRecorded) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=usage.workspace_id,
        job_id=usage.job_id,
        traceparent=usage.traceparent,
        outcome="failed",
        model_id=usage.model_id,
        provider=usage.provider,
        error=JobError(
            code=ErrorCode.UPSTREAM_ERROR,
            message="the provider's answer was too large to deliver; nothing was charged",
        ),
        attempts=usage.attempts,
    )
