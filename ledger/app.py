"""The ledger's Faust app: the admission and settlement agents, partitioned by workspace id.

Faust is run at-least-once. Exactly-once money comes from the idempotent PostgreSQL writes: a batch commits
its database transaction, then publishes what follows and waits for the broker's acknowledgements, and only
then are its events acked, so the offset Faust commits is always behind work that is durably done. A crash
anywhere replays the event; the replay finds its idempotency key and re-publishes the same outcome.

Failures follow the one consume policy (runtime/consume.py): a transient one (PostgreSQL or Kafka away, for
however long) is retried with bounded backoff and nothing is acked meanwhile; a permanent one costs exactly
its own event, which is dead-lettered while its job ends in one terminal state with its hold released
(ledger/poison.py). The process never exits over an event.

Batching uses only Faust's public API: each agent runs `ledger_batch_max` actors over one shared queue, each
holding one event that Faust acks when the actor moves on (ledger/batches.py). Rebalances and shutdowns wait
for delivered events (`stream_wait_empty`), which takes at most the batch in progress.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import faust
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ledger import admission, batch_retention, driver, expiry, finance_tick, inbound, pacing, poison, settlement
from ledger.batch_feeder import BatchFeeder, feeder_lock_key
from ledger.batches import Batches
from ledger.commands import WorkspaceCommands
from ledger.faust_transport import LedgerApp
from ledger.publisher import Publisher, Record
from ledger.refusals import Refused, Stage, refusal_of
from ledger.settings import LedgerSettings
from ledger.telemetry import BatchObservation, LedgerTelemetry
from runtime import heap
from runtime.consume import Verdict, classify, dead_letter, process_batch, retry_transient
from runtime.partitioning import KeyPartitioner
from runtime.readiness import mark_ready
from runtime.tracing import start_tracing
from schemas import topics
from schemas.batches import is_batch_job
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobSubmitted, Envelope, UsageRecorded, encode, utc_now
from schemas.finance import FINANCE_EVENTS, FinanceEvent

log = logging.getLogger(__name__)

# How often the ledger looks for its first partition assignment, to announce it is ready.
READINESS_CHECK_S = 0.2


def create_engine(settings: LedgerSettings) -> AsyncEngine:
    # No pre-ping: it costs a round trip per batch, and a batch that meets a dead connection is retried anyway.
    return create_async_engine(settings.database_url, pool_size=settings.db_pool_size)


def _faust_data_root() -> Path:
    root = Path(tempfile.gettempdir()) / "luntrex-faust"
    root.mkdir(exist_ok=True)  # Faust makes only the last directory of its path
    return root


def new_faust_app(settings: LedgerSettings) -> faust.App:
    # LedgerApp: Faust with an idempotent producer (acks=all and enable_idempotence), like every other producer.
    return LedgerApp(
        settings.ledger_app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store="memory://",
        # Faust makes its data directory even with the memory store (nothing is written in it); its default, in
        # the working directory, left one empty directory per app id (every test run) in the checkout.
        datadir=str(_faust_data_root() / f"{settings.ledger_app_id}-data"),
        web_enabled=False,
        topic_partitions=topics.LEDGER_PARTITIONS,
        topic_allow_declare=False,
        # No Faust leader election: the ledger's singletons take PostgreSQL advisory locks instead. Faust's leader
        # topic is one nobody creates (declaring is off), so the consumer subscribed to a missing topic, the
        # broker auto-created it, and the next metadata refresh (5 min after start) rebalanced every ledger and
        # logged a false "no fetch request since start" error for each partition.
        topic_disable_leader=True,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger=settings.kafka_linger_ms / 1000,
        producer_partitioner=KeyPartitioner(),
        producer_max_request_size=settings.kafka_message_max_bytes,
        consumer_max_fetch_size=settings.kafka_message_max_bytes,
        # A broker away this long fails the publish, which the consume policy then retries (and logs).
        producer_request_timeout=settings.ledger_publish_timeout_s,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100,
        broker_commit_interval=0.5,
        broker_session_timeout=settings.ledger_session_timeout_s,
        broker_heartbeat_interval=settings.ledger_session_timeout_s / 4,
        # Revocation and shutdown wait for the events already delivered to be acked: an actor cancelled
        # mid-batch would otherwise have its event acked unprocessed. The wait is bounded by the batch in
        # progress (batches never wait for new events), and a batch retrying through an outage ends with it.
        stream_wait_empty=True,
    )


class Ledger:
    """Holds the app's collaborators; the two agents below are its consume loops."""

    def __init__(self, settings: LedgerSettings, catalogue: Catalogue, engine: AsyncEngine) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.engine = engine
        # Each stage runs one batch at a time on a connection of its own, kept between batches.
        self.connections = {stage: driver.StageConnection(engine) for stage in (Stage.ADMISSION, Stage.SETTLEMENT)}
        # Batch jobs' settlements run beside the interactive ones (below), so they get a connection of their own:
        # sharing the interactive stage's would make a sync caller's settlement wait for a batch transaction.
        self.batch_lane_connection = driver.StageConnection(engine)
        self.app = new_faust_app(settings)
        self.telemetry = LedgerTelemetry(settings, start_tracing("ledger"))
        self.publisher = Publisher(
            self.app, topic_prefix=settings.topic_prefix, message_max_bytes=settings.kafka_message_max_bytes
        )
        prefix = settings.topic_prefix
        self.submitted = self.app.topic(topics.prefixed(prefix, topics.JOBS_SUBMITTED))
        self.usage = self.app.topic(topics.prefixed(prefix, topics.JOBS_USAGE))
        self.batches = {
            Stage.ADMISSION: Batches(partial(self._run, Stage.ADMISSION), batch_max=settings.ledger_batch_max),
            Stage.SETTLEMENT: Batches(partial(self._run, Stage.SETTLEMENT), batch_max=settings.ledger_batch_max),
        }
        # Batch jobs' usage is settled in batches of its own, beside the interactive ones rather than in front of
        # them: a sync caller's settlement never waits for a batch workspace's accounts (which the feeder locks
        # while it releases lines), nor for a transaction of batch jobs.
        # Fewer, fuller transactions matter more to batch jobs than a few ms each: they linger for company.
        self.batch_lane_settlement = Batches(
            partial(self._run, Stage.SETTLEMENT),
            batch_max=settings.ledger_batch_max,
            linger_s=settings.batch_settlement_linger_s,
            fill_min=settings.ledger_batch_max // 2,
        )
        actors = settings.ledger_batch_max
        self.app.agent(self.submitted, name="admission", concurrency=actors)(self._admission_agent)
        self.app.agent(self.usage, name="settlement", concurrency=actors)(self._settlement_agent)
        self.app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]
        self.app.task(self._announce_ready_once_assigned)
        self._supervised_timer(settings.expiry_sweep_interval_s, "expiry sweep", self.sweep_overdue)
        self._sweep_lock_key = expiry.sweep_lock_key(settings.ledger_app_id)
        # Finance: auto top-up retries and the finance outbox, published to `finance.events`.
        self.finance = settings.finance()
        self._finance_lock_key = finance_tick.tick_lock_key(settings.ledger_app_id)
        self._supervised_timer(settings.finance_tick_interval_s, "finance tick", self.finance_tick)
        # Batches: the feeder releases stored lines as held, dispatched jobs; the pruner applies result retention.
        self.feeder = BatchFeeder(
            engine, catalogue, settings.batch_feed_policy(), lock_key=feeder_lock_key(settings.ledger_app_id)
        )
        self._paced_loop(
            settings.batch_feed_interval_s,
            "batch feeder",
            self.feed_batches,
            idle_until=lambda: self._feeder_idle_until,
        )
        # An idle feeder (no unfinished batch) looks for new batches at the idle interval only; interactive
        # admissions here within the window make batches step back to their shared cap.
        self._feeder_idle_until = -math.inf
        self._interactive_admitted_at = -math.inf
        self._supervised_timer(settings.result_prune_interval_s, "result retention", self.prune_results)
        commands = WorkspaceCommands(
            engine, catalogue, self._publish, self.finance, feeder_lock_key=feeder_lock_key(settings.ledger_app_id)
        )
        self.app.agent(self.app.topic(topics.prefixed(prefix, topics.LEDGER_COMMANDS)), name="commands")(commands.agent)
        self._supervised_timer(settings.metrics_sample_interval_s, "metrics sample", self.sample_metrics)
        self._ready = False

    # --- the consume loops -------------------------------------------------------------------------------

    async def _publish(self, outgoing: list[tuple[str, bytes, Envelope]]) -> None:
        """Publish outcomes that are not a stage's (workspace commands' answers), waiting for the broker."""
        await self.publisher.send(self.publisher.prepare(outgoing, refused_code=ErrorCode.PAYLOAD_TOO_LARGE))

    async def _admission_agent(self, stream: Any) -> None:
        async for event in stream.events():
            await self.batches[Stage.ADMISSION].submit(event)

    async def _settlement_agent(self, stream: Any) -> None:
        batch_lane = topics.Lane.BATCH.value.encode()
        async for event in stream.events():
            lane = dict(_headers(event.message.headers)).get(topics.LANE_HEADER)
            queue = self.batch_lane_settlement if lane == batch_lane else self.batches[Stage.SETTLEMENT]
            await queue.submit(event)

    async def _run(self, stage: Stage, events: list[Any]) -> None:
        handle = self._admit if stage is Stage.ADMISSION else self._settle
        await process_batch(events, handle, on_poison=partial(self._on_poison, stage), what=f"ledger {stage}")

    async def _admit(self, events: Sequence[Any]) -> None:
        """One database transaction for the whole batch: one commit (one WAL flush) instead of one per job."""
        self.telemetry.taken(Stage.ADMISSION, [event.message.timestamp for event in events])
        jobs = [inbound.submitted(event.value, self.catalogue) for event in events]
        # Every job on `jobs.submitted` is interactive (batch lines are admitted by the feeder).
        self._interactive_admitted_at = time.monotonic()
        traced = [(job.job_id, event.message.headers) for job, event in zip(jobs, events, strict=True)]
        with self.telemetry.batch(Stage.ADMISSION, traced) as observed:
            await self._admit_jobs(jobs, observed)

    async def _admit_jobs(self, jobs: list[ChatJobSubmitted], observed: BatchObservation) -> None:
        stage = self.connections[Stage.ADMISSION]
        async with stage.transaction() as conn:
            outcomes = await admission.admit(
                conn,
                self.catalogue,
                jobs,
                default_deadline_s=self.settings.job_deadline_s,
                now=utc_now(),
            )
            outgoing, dispatched = admission.outgoing(jobs, outcomes)
            records = self.publisher.prepare(outgoing, refused_code=ErrorCode.PAYLOAD_TOO_LARGE)
        with self.telemetry.publishing(Stage.ADMISSION):
            await self.publisher.send(observed.traced(records))
        observed.admitted(outcomes)
        async with stage.connection() as conn:
            await admission.mark_dispatched(conn, dispatched)

    async def _settle(self, events: Sequence[Any]) -> None:
        """Interactive jobs first, in a transaction of their own, then batch jobs: a sync caller's settlement never
        waits for a batch workspace's accounts (which the batch feeder locks while it releases lines) nor for
        the batch jobs that arrived with it. Each part is idempotent (the consume policy may replay both)."""
        self.telemetry.taken(Stage.SETTLEMENT, [event.message.timestamp for event in events])
        usages = [inbound.usage(event.value, self.catalogue) for event in events]
        traced = [(usage.job_id, event.message.headers) for usage, event in zip(usages, events, strict=True)]
        batch_lane = [is_batch_job(usage.job_id) for usage in usages]
        for lane in (False, True):
            chosen = [n for n, in_batch_lane in enumerate(batch_lane) if in_batch_lane is lane]
            if chosen:
                connection = self.batch_lane_connection if lane else self.connections[Stage.SETTLEMENT]
                await self._settle_usages([usages[n] for n in chosen], [traced[n] for n in chosen], connection)

    async def _settle_usages(
        self, usages: list[UsageRecorded], traced: list[tuple[str, Any]], connection: driver.StageConnection
    ) -> None:
        with self.telemetry.batch(Stage.SETTLEMENT, traced) as observed:
            async with connection.transaction() as conn:
                settled = await settlement.settle_in_book(conn, self.catalogue, usages, self.finance)
                # A batch job's result is read from the book (its batch's results); no caller waits for its
                # record on `jobs.results`, so none is built or published: a message less per job for the
                # ledger, the broker and every ingress replica reading that topic.
                finished = settlement.results(usages, settled, wanted=_interactive)
                records = self.publisher.prepare(
                    [(topics.JOBS_RESULTS, topics.job_key(job.job_id), job) for job in finished],
                    refused_code=ErrorCode.UPSTREAM_ERROR,
                )
            with self.telemetry.publishing(Stage.SETTLEMENT):
                await self.publisher.send(observed.traced(records))
            observed.settled([job.status for job in settled if job is not None])

    # --- poison: one event refused, one job ended, everything else goes on -------------------------------

    async def _on_poison(self, stage: Stage, event: Any, error: BaseException) -> None:
        refusal = refusal_of(error, stage)
        identity = poison.identity_of(event.value)
        if identity is not None:
            try:
                await retry_transient(
                    partial(self._end_job, stage, identity, refusal), what=f"ending job {identity.job_id}"
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.critical(
                    "ledger %s: job %s of a refused event could not be ended; it is dead-lettered as it stands",
                    stage,
                    identity.job_id,
                    exc_info=True,
                )
        else:
            log.error("ledger %s: a refused event names no job; it is dead-lettered only", stage)
        await self._dead_letter(stage, event, error)

    async def _end_job(self, stage: Stage, identity: poison.Identity, refusal: Any) -> None:
        async with self.engine.begin() as conn:
            if stage is Stage.ADMISSION:
                finished = await poison.end_submitted(conn, self.catalogue, identity, refusal)
            else:
                finished = await poison.end_usage(conn, self.catalogue, identity, refusal)
        if finished is None:
            return
        key = topics.job_key(identity.job_id)
        try:
            records = self.publisher.prepare([(topics.JOBS_RESULTS, key, finished)], refused_code=refusal.code)
        except Refused:
            without = poison.without_answer(finished, refusal)
            records = self.publisher.prepare([(topics.JOBS_RESULTS, key, without)], refused_code=refusal.code)
        await self.publisher.send(records)
        log.warning("ledger %s: job %s ended %s (%s)", stage, identity.job_id, finished.status, refusal.code)

    async def _dead_letter(self, stage: Stage, event: Any, error: BaseException) -> None:
        message = event.message
        record = dead_letter(
            consumer=f"ledger.{stage}",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=_headers(message.headers),
            error=error,
        )
        topic = topics.prefixed(self.settings.topic_prefix, topics.DEAD_LETTERS)
        await self.publisher.send([Record(topic, message.key, encode(record))])
        self.telemetry.dead_lettered(f"ledger.{stage}")

    # --- rebalances and background work ------------------------------------------------------------------

    async def _on_partitions_revoked(self, _app: Any, revoked: Any, **_kwargs: Any) -> None:
        """Sent once every delivered event is acked; anything still waiting here would be a bug, said loudly."""
        held = {str(stage): len(batches) for stage, batches in self.batches.items() if len(batches)}
        if len(self.batch_lane_settlement):
            held["settlement of batch jobs"] = len(self.batch_lane_settlement)
        if held:
            log.error("partitions revoked while events still wait for a batch: %s", held)
        log.info("partitions revoked: %d; nothing in flight", len(revoked))

    def _supervised_timer(self, interval_s: float, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """A Faust timer whose failures are never silent: a transient one waits for the next tick, anything
        else takes the process down loudly (a timer that just died would leave jobs held forever)."""
        self.app.timer(interval_s, name=f"ledger.{name}")(self._supervised(interval_s, name, work))

    def _paced_loop(
        self,
        interval_s: float,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        idle_until: Callable[[], float] = lambda: -math.inf,
    ) -> None:
        """Like `_supervised_timer`, for work whose runs may well outlast its interval (the batch feeder): each
        run starts `interval_s` after the last ended, as under the timer, but runs that outlast the interval are
        summed up in at most one warning a minute (`ledger/pacing.py`) instead of mode's one per run.

        `idle_until`: a monotonic time before which the work has declared it has nothing to do; the loop sleeps
        until then instead of waking every interval to be turned away (15 of the idle feeder's 20 wake-ups a
        second)."""
        supervised = self._supervised(interval_s, name, work)
        overruns = pacing.Overruns(name, interval_s)

        async def loop() -> None:
            while not self.app.should_stop:
                started = time.monotonic()
                await supervised()
                ended = time.monotonic()
                report = overruns.record(ended - started, ended)
                if report:
                    log.warning(report)
                await self.app.sleep(max(interval_s, idle_until() - time.monotonic()))

        self.app.task(loop)

    def _supervised(
        self, interval_s: float, name: str, work: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def tick() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if classify(error) is Verdict.TRANSIENT:
                    log.warning(
                        "%s failed transiently (%s: %s); next try in %.1fs",
                        name,
                        type(error).__name__,
                        error,
                        interval_s,
                    )
                    return
                log.critical("%s failed permanently; stopping the ledger", name, exc_info=True)
                await self.app.crash(error)

        return tick

    async def _announce_ready(self) -> None:
        if not self._ready and self.app.consumer.assignment():
            self._ready = True
            heap.settle(self.settings.gc_young_threshold)
            mark_ready(self.settings.ready_file)
            log.info("ledger ready: partitions assigned")

    async def _announce_ready_once_assigned(self) -> None:
        """Looks for an assignment every 0.2 s until the first one, then stops (not a timer for the process's life:
        readiness is announced once)."""
        while not self._ready and not self.app.should_stop:
            await self.app.sleep(READINESS_CHECK_S)
            await self._announce_ready()

    async def sweep_overdue(self) -> None:
        """Expire jobs queued past their deadline, if no other instance is sweeping right now."""
        async with self.engine.begin() as conn:
            if not await expiry.try_lock_sweep(conn, self._sweep_lock_key):
                return
            overdue = await expiry.overdue_jobs(
                conn, default_deadline_s=self.settings.job_deadline_s, limit=self.settings.expiry_sweep_max
            )
            if not overdue:
                return
            records = self.publisher.prepare(
                [
                    (topics.JOBS_USAGE, topics.ledger_key(workspace_id), expiry.expiry_of(job_id, workspace_id))
                    for job_id, workspace_id in overdue
                ],
                refused_code=ErrorCode.INTERNAL,
            )
            # Published while the lock is held, so no other instance sweeps the same jobs meanwhile.
            await self.publisher.send(records)
        log.info("expiry sweep: %d overdue jobs sent to settlement", len(overdue))

    # --- batches -----------------------------------------------------------------------------------------

    async def feed_batches(self) -> None:
        started = time.monotonic()
        if started < self._feeder_idle_until:
            return
        recent = started - self._interactive_admitted_at < self.settings.batch_interactive_window_s
        fed = await self.feeder.tick(self._publish, now=utc_now(), interactive_recent=recent)
        if not fed.active:
            self._feeder_idle_until = started + self.settings.batch_feed_idle_interval_s

    async def prune_results(self) -> None:
        pruned = await batch_retention.prune(
            self.engine,
            retention_days=self.settings.result_retention_days,
            now=utc_now(),
            batches_max=self.settings.result_prune_batches_max,
        )
        if pruned:
            log.info("result retention: %d batches past retention pruned", len(pruned))

    # --- finance -----------------------------------------------------------------------------------------

    async def sample_metrics(self) -> None:
        await self.telemetry.sample(self.engine)

    async def finance_tick(self) -> None:
        """Retry due auto top-ups (one instance at a time), then publish the finance outbox, keyed by workspace."""
        await finance_tick.tick(
            self.engine,
            self.finance,
            self._publish_finance,
            retries_max=self.settings.finance_retry_drain_max,
            events_max=self.settings.finance_events_drain_max,
            lock_key=self._finance_lock_key,
        )

    async def _publish_finance(self, events: list[FinanceEvent]) -> None:
        outgoing = [(FINANCE_EVENTS, topics.ledger_key(event.workspace_id), event) for event in events]
        await self.publisher.send(self.publisher.prepare(outgoing, refused_code=ErrorCode.INTERNAL))


def _interactive(job_id: str) -> bool:
    return not is_batch_job(job_id)


def _headers(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(str(name), value if isinstance(value, bytes) else str(value).encode()) for name, value in pairs]


def create_ledger(settings: LedgerSettings) -> Ledger:
    catalogue = settings.load_catalogue()
    return Ledger(settings, catalogue, create_engine(settings))
