"""Kafka client lifecycle: producers and consumers configured the same way in every service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaTimeoutError, TopicAlreadyExistsError, for_code

from runtime.partitioning import KeyPartitioner
from runtime.settings import ServiceSettings
from schemas import topics as topic_names

# aiokafka's own default for the whole fetch response (all partitions); never below one record.
FETCH_MAX_BYTES_DEFAULT = 52_428_800
# The longest aiokafka's background fetch routine sleeps between looks at its partitions (aiokafka's default is
# 200 ms). It is woken at once by everything that needs a new fetch: a fetch answered, records consumed, a
# partition resumed, an assignment lost, a seek or offset reset, a metadata update it asked for; the timeout is
# only a safety net, and at 200 ms it woke every idle consumer five times a second.
CONSUMER_TIMEOUT_MS = 1000


# aiokafka's default: the most bytes of records one partition's batch holds before a send waits for it to go.
BATCH_BYTES_DEFAULT = 16_384


def new_producer(
    settings: ServiceSettings, *, linger_ms: int | None = None, batch_bytes_max: int = BATCH_BYTES_DEFAULT
) -> AIOKafkaProducer:
    """Idempotence (acks=all) so a retried send never duplicates on the broker; `kafka_linger_ms` (none) for the
    sync path, unless `linger_ms` is given (the batch lane's producer trades a few ms for fewer requests).
    `batch_bytes_max`: a send to a partition whose batch is this full waits until that batch has gone."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms if linger_ms is None else linger_ms,
        compression_type=None,
        max_request_size=settings.kafka_message_max_bytes,
        max_batch_size=min(batch_bytes_max, settings.kafka_message_max_bytes),
        partitioner=KeyPartitioner(),
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
        consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
        isolation_level="read_committed",
        max_poll_interval_ms=max_poll_interval_ms,
        **consumer_size_options(settings),
    )


def consumer_size_options(settings: ServiceSettings) -> dict[str, int]:
    """Fetch sizes that let a consumer read the largest record a producer may send (for any aiokafka consumer)."""
    return {
        "max_partition_fetch_bytes": settings.kafka_message_max_bytes,
        "fetch_max_bytes": max(FETCH_MAX_BYTES_DEFAULT, settings.kafka_message_max_bytes),
    }


def topic_configs(settings: ServiceSettings) -> dict[str, str]:
    """The per-topic configuration every topic is created with."""
    return {
        "min.insync.replicas": str(settings.kafka_min_insync_replicas),
        "max.message.bytes": str(settings.kafka_message_max_bytes),
    }


async def ensure_topics(settings: ServiceSettings, topics: Iterable[tuple[str, int]]) -> list[str]:
    """Create the topics that do not exist yet, with the settings' replication and size; returns their names.

    Existing topics are left as they are (see `config_drift`): changing a replication factor is a partition
    reassignment, an operator's decision. A topic the broker refuses to create raises its Kafka error.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = topic_configs(settings)
        wanted = [
            NewTopic(
                name, partitions, settings.kafka_replication_factor, topic_configs={**configs, **_configs_of(name)}
            )
            for name, partitions in topics
            if name not in existing
        ]
        if wanted:
            _raise_topic_errors((await admin.create_topics(wanted)).topic_errors)
            await _wait_visible(admin, {topic.name: topic.num_partitions for topic in wanted})
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


# CreateTopics answers once the controller recorded the topics; a broker's metadata may lag for a moment, and a
# consumer group joining in that moment is assigned none of a missing topic's partitions (Faust's assignor ignores
# the topic) until its next metadata refresh, minutes later: a ledger started by the bench right after creating its
# topics once idled that way past its 120 s start-up limit. So creating topics ends when the broker serves them.
TOPIC_VISIBLE_WAIT_S = 30.0
TOPIC_VISIBLE_POLL_S = 0.05


async def _wait_visible(admin: AIOKafkaAdminClient, partitions: dict[str, int]) -> None:
    deadline = time.monotonic() + TOPIC_VISIBLE_WAIT_S
    while True:
        served = {
            topic["topic"]
            for topic in await admin.describe_topics(list(partitions))
            if topic["error_code"] == 0
            and len(topic["partitions"]) == partitions[topic["topic"]]
            and all(partition["leader"] >= 0 for partition in topic["partitions"])
        }
        if served >= partitions.keys():
            return
        if time.monotonic() >= deadline:
            missing = sorted(partitions.keys() - served)
            raise KafkaTimeoutError(f"topics created but not served after {TOPIC_VISIBLE_WAIT_S:.0f} s: {missing}")
        await asyncio.sleep(TOPIC_VISIBLE_POLL_S)


def _configs_of(name: str) -> dict[str, str]:
    # State topics keep the newest record per key forever, so a reader starting from the beginning has all.
    return {"cleanup.policy": "compact"} if topic_names.is_compacted(name) else {}


def _raise_topic_errors(topic_errors: Iterable[tuple[Any, ...]]) -> None:
    """aiokafka reports per-topic failures in the response instead of raising them."""
    for name, code, *message in topic_errors:
        # Another process may create the same topic at the same moment: that is success.
        if code not in (0, TopicAlreadyExistsError.errno):
            raise for_code(code)(f"creating topic {name}: {message[0] if message else ''}")


async def config_drift(settings: ServiceSettings, names: Iterable[str]) -> list[str]:
    """One line per existing topic whose size or min.insync.replicas differs from the settings."""
    wanted = topic_configs(settings)
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(wanted)) for name in names]
    if not resources:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()
    drift = []
    for response in responses:
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                value, expected = entry["config_value"], wanted.get(entry["config_names"])
                if expected is not None and value != expected:
                    drift.append(
                        f"{resource['resource_name']}: {entry['config_names']}={value}, settings say {expected}"
                    )
    return drift


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer safely: aiokafka 0.14 raises CancelledError when a group-less consumer is stopped
    before its background task ever ran, so give that task one turn of the loop first."""
    await asyncio.sleep(0)
    await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """A topic's partitions, read fresh from the broker (a group-less consumer has no metadata for it yet)."""
    cluster = await consumer._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())


# How long a reader waits for its topics to exist (another process may be creating them right now).
TOPIC_WAIT_S = 30.0
# How long the broker holds a reader's fetch when nothing is new. A fetch is answered as soon as a record
# arrives (fetch_min_bytes 1), so this does not delay a reply or a delta: it only sets how often an idle reader
# asks again, and each ask costs CPU in aiokafka (about a fifth of an idle ingress's CPU at 200 ms per reader).
# Readers never pause their partitions, so no resume waits on a held fetch.
READER_FETCH_MAX_WAIT_MS = 1000


async def start_reader(
    settings: ServiceSettings, topic_list: Iterable[str], *, from_beginning: bool
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started group-less consumer assigned every partition of `topic_list`, positioned at their beginning
    (a reader of whole state topics) or their end (a reader of replies to its own requests).

    The end is resolved before returning, so nothing published after this call can slip past the reader.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=max(settings.kafka_fetch_max_wait_ms, READER_FETCH_MAX_WAIT_MS),
        consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
        **consumer_size_options(settings),
    )
    await consumer.start()
    try:
        assigned = [tp for topic in topic_list for tp in await _partitions_when_created(consumer, topic)]
    except BaseException:
        await stop_consumer(consumer)
        raise
    consumer.assign(assigned)
    if from_beginning:
        await consumer.seek_to_beginning(*assigned)
    else:
        await consumer.seek_to_end(*assigned)
        for tp in assigned:
            await consumer.position(tp)
    return consumer, assigned


async def _partitions_when_created(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    deadline = time.monotonic() + TOPIC_WAIT_S
    while time.monotonic() < deadline:
        partitions = await partitions_of(consumer, topic)
        if partitions:
            return [TopicPartition(topic, partition) for partition in sorted(partitions)]
        await asyncio.sleep(0.2)
    raise RuntimeError(f"topic {topic} does not exist; create topics first (python -m runtime.topics)")
