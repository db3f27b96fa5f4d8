"""Publishes accepted jobs to `jobs.submitted`, keyed by workspace so the ledger has one writer each."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from runtime.kafka import new_producer
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.errors import ServiceUnavailable
from schemas.events import ChatJobSubmitted, encode


class JobPublisher:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._topic = topics.prefixed(settings.topic_prefix, topics.JOBS_SUBMITTED)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = new_producer(self._settings)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def submit(self, job: ChatJobSubmitted) -> None:
        """Return only once the broker has the job durably: an accepted job is never lost."""
        assert self._producer is not None, "publisher not started"
        try:
            await self._producer.send_and_wait(self._topic, encode(job), key=topics.ledger_key(job.workspace_id))
        except Exception as exc:
            raise ServiceUnavailable("the job queue is unavailable; nothing was charged", retry_after_s=1) from exc
