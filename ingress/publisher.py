"""Publishes accepted jobs to `jobs.submitted`, keyed by workspace so the ledger has one writer each.

A publication is bounded in time and ends one of three ways:
- acknowledged: the broker has the job durably;
- refused (`ServiceUnavailable`): nothing reached the broker, so nothing was accepted;
- ambiguous (`PublishAmbiguous`): the job was handed to the producer but not acknowledged in time; it may
  still reach the broker (the producer keeps trying), so only the outbox and the ledger can tell later.

While the broker is unreachable, callers are refused at once instead of each waiting out the bound: after
an ambiguous publication only one publication per `publish_probe_interval_s` tries the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from prometheus_client import Histogram

from ingress.settings import IngressSettings
from runtime.kafka import new_producer
from runtime.tracing import Tracing
from schemas import topics
from schemas.errors import ServiceUnavailable
from schemas.events import ChatJobEarlyStart

log = logging.getLogger(__name__)

# The longest a request waits to hand its early start to the producer (a metadata fetch for a topic new to it takes
# a few ms); the job itself is published right after, within its own bound.
EARLY_START_SEND_MAX_S = 0.1


class PublishAmbiguous(Exception):
    """The job may or may not be on the broker: keep its outbox row, let the relay and the ledger settle it."""


class JobPublisher:
    def __init__(
        self, settings: IngressSettings, *, tracing: Tracing | None = None, published: Histogram | None = None
    ) -> None:
        self._settings = settings
        self._tracing = tracing or Tracing()
        # Time to the broker's acknowledgement of each job (None: metrics off).
        self._published = published
        self._topic = topics.prefixed(settings.topic_prefix, topics.JOBS_SUBMITTED)
        self._producer: AIOKafkaProducer | None = None
        # Monotonic time before which the broker is presumed unreachable (0: presumed reachable).
        self._unreachable_until = 0.0

    async def start(self) -> None:
        self._producer = new_producer(self._settings)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def submit(self, workspace_id: str, event: bytes, *, timeout_s: float) -> None:
        """Return once the broker has the job durably, within `timeout_s`; else refuse or report ambiguity."""
        assert self._producer is not None, "publisher not started"
        now = time.monotonic()
        if now < self._unreachable_until:
            raise _unavailable()
        if self._unreachable_until:
            # This publication probes the broker; the others keep being refused until it answers.
            self._unreachable_until = now + self._settings.publish_probe_interval_s
        # `asyncio.timeout` bounds the awaits in place (no task per publication, unlike `wait_for` on 3.11).
        bound = asyncio.timeout(timeout_s)
        try:
            async with bound:
                # Cancelling `send` itself (the bound) guarantees the record was never queued: a clean refusal.
                delivery = await self._producer.send(
                    self._topic, event, key=topics.ledger_key(workspace_id), headers=self._tracing.headers()
                )
        except (TimeoutError, KafkaError) as exc:
            self._presume_unreachable()
            raise _unavailable() from exc
        delivery.add_done_callback(self._delivered)
        try:
            async with asyncio.timeout_at(bound.when()):
                await asyncio.shield(delivery)
        except (TimeoutError, KafkaTimeoutError) as exc:
            self._presume_unreachable()
            raise PublishAmbiguous("the broker did not acknowledge the job in time") from exc
        except KafkaError as exc:
            if exc.retriable:
                self._presume_unreachable()
                raise PublishAmbiguous(f"the broker did not take the job: {exc}") from exc
            raise _unavailable() from exc
        self._unreachable_until = 0.0
        if self._published is not None:
            self._published.labels("ingress.jobs").observe(time.monotonic() - now)

    async def early_start(self, topic: str, job_id: str, event: bytes) -> bool:
        """Hand a job's early start (ingress/early_start.py) to the producer, keyed as its dispatch will be, without
        waiting for the broker: it is only a head start, and one lost costs latency, never the job."""
        assert self._producer is not None, "publisher not started"
        if time.monotonic() < self._unreachable_until:
            return False
        headers = [(topics.EARLY_START_HEADER, b"1"), *(self._tracing.headers() or ())]
        try:
            # `send` waits for the topic's metadata (the broker unreachable: for the producer's whole request
            # timeout) and for room in its buffer; a head start is worth neither. Cancelled there, nothing was queued.
            async with asyncio.timeout(EARLY_START_SEND_MAX_S):
                delivery = await self._producer.send(
                    topic, ChatJobEarlyStart.wrap(event), key=topics.job_key(job_id), headers=headers
                )
        except TimeoutError:
            return False
        except KafkaError as exc:
            log.warning("an early start was not sent: %s", exc)
            return False
        delivery.add_done_callback(_ignored)
        return True

    def _delivered(self, delivery: asyncio.Future[object]) -> None:
        """Every delivery, even one given up on as ambiguous, tells whether the broker is reachable again."""
        if not delivery.cancelled() and delivery.exception() is None:
            self._unreachable_until = 0.0

    def _presume_unreachable(self) -> None:
        self._unreachable_until = time.monotonic() + self._settings.publish_probe_interval_s


def _ignored(delivery: asyncio.Future[object]) -> None:
    """An early start's delivery is nobody's to wait for; its failure is retrieved here so it is not logged."""
    if not delivery.cancelled():
        delivery.exception()


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the job queue is unavailable; nothing was accepted or charged", retry_after_s=1)
