"""Waits for job results: every ingress replica reads `jobs.results` and wakes the callers it holds.

Results are keyed by job id, so a replica skips the ones it is not waiting for without decoding them. The
reader follows the consume policy: a broker failure is retried with backoff, a record that does not decode
wakes its waiters with `ResultUnreadable` (they read the job from the ledger's book) and the reader goes on;
the loop is supervised, so even a bug restarts it instead of silently ending reply delivery.
The subscription starts at the end of the topic and resolves its position before serving, so no reply to a
request this replica accepted can slip past it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from prometheus_client import Histogram

from ingress.supervision import start_supervised, stop
from runtime import metrics
from runtime.consume import Backoff, retry_transient
from runtime.kafka import start_reader, stop_consumer
from runtime.settings import ServiceSettings
from runtime.tracing import Tracing
from schemas import topics
from schemas.errors import ServiceUnavailable
from schemas.events import JobFinished, decode

log = logging.getLogger(__name__)


class ResultUnreadable(Exception):
    """A job's result record did not decode; the job's state is to be read from the ledger's book instead."""


class ReplyWaiter:
    def __init__(
        self,
        settings: ServiceSettings,
        pending_max: int,
        *,
        tracing: Tracing | None = None,
        ages: Histogram | None = None,
    ) -> None:
        self._settings = settings
        self._tracing = tracing or Tracing()
        # Each result's age when taken up (None: metrics off): the last hop of a sync request.
        self._ages = ages
        self._pending_max = pending_max
        # Several callers may wait for one job: the first request and its idempotent retries.
        self._pending: dict[bytes, list[asyncio.Future[JobFinished]]] = {}
        self._waiting = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff()

    async def start(self) -> None:
        topic = topics.prefixed(self._settings.topic_prefix, topics.JOBS_RESULTS)
        consumer, _ = await start_reader(self._settings, [topic], from_beginning=False)
        self._consumer = consumer
        self._task = start_supervised("reply-reader", self._run)

    async def stop(self) -> None:
        await stop(self._task)
        if self._consumer is not None:
            await stop_consumer(self._consumer)

    @property
    def waiting(self) -> int:
        """Callers waiting for a result on this replica now."""
        return self._waiting

    def expect(self, job_id: str) -> asyncio.Future[JobFinished]:
        """Register interest in a job's result; call before the job is published (or looked up)."""
        if self._waiting >= self._pending_max:
            raise ServiceUnavailable("too many requests are waiting for results; retry shortly", retry_after_s=1)
        future: asyncio.Future[JobFinished] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(topics.job_key(job_id), []).append(future)
        self._waiting += 1
        return future

    def forget(self, job_id: str, future: asyncio.Future[JobFinished]) -> None:
        key = topics.job_key(job_id)
        waiters = self._pending.get(key)
        if waiters is not None and future in waiters:
            waiters.remove(future)
            self._waiting -= 1
            if not waiters:
                del self._pending[key]

    async def _run(self) -> None:
        """Deliver results forever: a broker failure is retried with backoff, a bad record costs that record."""
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            # A broker outage is retried with backoff; a bug (permanent) ends the loop for its supervisor to log.
            batches = await retry_transient(
                lambda: consumer.getmany(timeout_ms=1000), what="reading job results", backoff=self._backoff
            )
            for records in batches.values():
                for record in records:
                    self._deliver(record)

    def _deliver(self, record: ConsumerRecord[bytes, bytes]) -> None:
        metrics.observe_age(self._ages, "ingress.results", record.timestamp, time.time())
        waiters = self._pending.pop(record.key, None) if record.key is not None else None
        if not waiters:
            return
        self._waiting -= len(waiters)
        if self._tracing.enabled:
            # The result's hop back to the caller, as the last span of the job's trace.
            with self._tracing.span(
                "jobs.results receive", parent=self._tracing.context_of(record.headers), kind="consumer"
            ):
                pass
        try:
            finished: JobFinished | ResultUnreadable = decode(JobFinished, record.value or b"")
        except ValueError as error:
            # The ledger's book still holds the job's true state: its waiters read it from there.
            log.error(
                "undecodable result at %s[%d]@%d for job %r skipped: %s",
                record.topic,
                record.partition,
                record.offset,
                record.key,
                error,
            )
            finished = ResultUnreadable(f"the result record of job {record.key!r} could not be decoded")
        for future in waiters:
            if future.done():
                continue
            if isinstance(finished, ResultUnreadable):
                future.set_exception(finished)
            else:
                future.set_result(finished)
