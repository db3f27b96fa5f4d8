"""Follows `jobs.stream` on every ingress replica and hands each held stream its job's answer deltas.

The routing is the replies' (ingress/replies.py): deltas are keyed by job id, every replica reads every
partition from the end, and a replica keeps only the deltas of the streams it holds (skipped undecoded). A
delta that does not decode is dropped (the stream's final answer, billed and delivered from `jobs.results`,
carries the text anyway); the loop is supervised and retries broker failures with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from prometheus_client import Histogram

from ingress.stream_inbox import StreamEvent, StreamInbox
from ingress.supervision import start_supervised, stop
from runtime import metrics
from runtime.consume import Backoff, retry_transient
from runtime.kafka import start_reader, stop_consumer
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.errors import ServiceUnavailable
from schemas.events import ChatJobHeld, ChatStreamDelta, decode

log = logging.getLogger(__name__)


class StreamDeltas:
    def __init__(
        self, settings: ServiceSettings, streams_max: int, deltas_buffered_max: int, *, ages: Histogram | None = None
    ) -> None:
        self._settings = settings
        # Each delta's age when taken up (None: metrics off): the hop a stream's first token takes last.
        self._ages = ages
        self._streams_max = streams_max
        self._buffered_max = deltas_buffered_max
        self._open: dict[bytes, StreamInbox] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff()

    async def start(self) -> None:
        topic = topics.prefixed(self._settings.topic_prefix, topics.JOBS_STREAM)
        self._consumer, _ = await start_reader(self._settings, [topic], from_beginning=False)
        self._task = start_supervised("stream-reader", self._run)

    async def stop(self) -> None:
        await stop(self._task)
        if self._consumer is not None:
            await stop_consumer(self._consumer)

    def open(self, job_id: str) -> StreamInbox:
        """The inbox this job's deltas will arrive in; open it before the job is published."""
        if len(self._open) >= self._streams_max:
            raise ServiceUnavailable("too many streams are open; retry shortly", retry_after_s=1)
        inbox = StreamInbox(self._buffered_max)
        self._open[topics.job_key(job_id)] = inbox
        return inbox

    def close(self, job_id: str) -> None:
        self._open.pop(topics.job_key(job_id), None)

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            # A broker outage is retried with backoff; a bug (permanent) ends the loop for its supervisor to log.
            batches = await retry_transient(
                lambda: consumer.getmany(timeout_ms=1000), what="reading stream deltas", backoff=self._backoff
            )
            for records in batches.values():
                for record in records:
                    self._deliver(record)

    def _deliver(self, record: ConsumerRecord[bytes, bytes]) -> None:
        metrics.observe_age(self._ages, "ingress.stream", record.timestamp, time.time())
        inbox = self._open.get(record.key) if record.key is not None else None
        if inbox is None:
            return
        value = record.value or b""
        try:
            delta: StreamEvent = (
                decode(ChatJobHeld, value) if ChatJobHeld.is_one(value) else decode(ChatStreamDelta, value)
            )
        except ValueError:
            log.warning("undecodable delta at %s[%d]@%d skipped", record.topic, record.partition, record.offset)
            return
        # False when full: a caller reading slower than the provider writes has its later deltas wait for the final
        # answer (a held notice lost there only makes an early-started stream wait for its result, which says the same).
        inbox.put(delta)
