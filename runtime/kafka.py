"""Kafka client lifecycle: producers and consumers configured the same way in every service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from runtime.settings import ServiceSettings
from schemas import topics as topic_names


def new_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    # Idempotence (acks=all) so a retried send never duplicates on the broker; linger small for the sync path.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        compression_type=None,
        max_request_size=settings.kafka_message_max_bytes,
    )


def new_consumer(
    settings: ServiceSettings, *topics: str, group_id: str | None, max_poll_interval_ms: int = 300_000
) -> AIOKafkaConsumer:
    """`max_poll_interval_ms`: a group member that does not poll for this long is evicted from its group."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        isolation_level="read_committed",
        max_poll_interval_ms=max_poll_interval_ms,
    )


async def ensure_topics(bootstrap_servers: str, topics: Iterable[tuple[str, int]]) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1, topic_configs=_configs_of(name))
            for name, partitions in topics
            if name not in existing
        ]
        if wanted:
            # Another process may create the same topics at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


def _configs_of(name: str) -> dict[str, str]:
    # State topics keep the newest record per key forever, so a reader starting from the beginning has all.
    return {"cleanup.policy": "compact"} if topic_names.is_compacted(name) else {}


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer safely: aiokafka 0.14 raises CancelledError when a group-less consumer is stopped
    before its background task ever ran, so give that task one turn of the loop first."""
    await asyncio.sleep(0)
    await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """A topic's partitions, read fresh from the broker (a group-less consumer has no metadata for it yet)."""
    cluster = await consumer._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())
