"""Kafka settings on the real test broker: topics carry the replication and size settings, and the largest
event a request can produce crosses a hop (producer, topic, consumer) whole."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import InvalidReplicationFactorError, MessageSizeTooLargeError
from pydantic import ValidationError

from ingress.settings import IngressSettings
from runtime.kafka import config_drift, new_consumer, new_producer, stop_consumer
from runtime.settings import MIB, ServiceSettings
from runtime.topics import topic_plan
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, decode, encode
from tests.topic_cleanup import ensure_topics


def settings_for(kafka: str, **overrides: object) -> ServiceSettings:
    return ServiceSettings(kafka_bootstrap_servers=kafka, **overrides)  # type: ignore[arg-type]


def new_prefix() -> str:
    return f"k{uuid.uuid4().hex[:8]}."


async def replication_factors(kafka: str, names: list[str]) -> set[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    assert {topic["topic"] for topic in described} == set(names)
    return {len(partition["replicas"]) for topic in described for partition in topic["partitions"]}


async def test_every_planned_topic_gets_the_settings_size_and_insync_replicas(kafka: str, catalogue: Catalogue) -> None:
    settings = settings_for(kafka)
    plan = topic_plan(catalogue, new_prefix())
    names = [name for name, _ in plan]
    assert any(name.endswith(topics.DEAD_LETTERS) for name in names)

    created = await ensure_topics(settings, plan)

    assert sorted(created) == sorted(names)
    assert await config_drift(settings, names) == []
    assert await replication_factors(kafka, names) == {1}
    assert await ensure_topics(settings, plan) == [], "a second run creates nothing"
    # Other settings on the same topics are reported, not silently accepted.
    smaller = settings_for(kafka, kafka_message_max_bytes=2 * MIB)
    drift = await config_drift(smaller, names[:1])
    assert drift == [f"{names[0]}: max.message.bytes={8 * MIB}, settings say {2 * MIB}"]


async def test_created_topics_are_served_with_every_partition_led_when_ensure_topics_returns(
    kafka: str, catalogue: Catalogue
) -> None:
    # A consumer group joining while a new topic is missing from the broker's metadata is assigned none of it until
    # its next metadata refresh, minutes later: services started right after ensure_topics must find them all.
    plan = topic_plan(catalogue, new_prefix())
    await ensure_topics(settings_for(kafka), plan)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        described = {topic["topic"]: topic for topic in await admin.describe_topics([name for name, _ in plan])}
    finally:
        await admin.close()
    for name, partitions in plan:
        assert described[name]["error_code"] == 0, name
        assert sorted(p["partition"] for p in described[name]["partitions"]) == list(range(partitions)), name
        assert all(p["leader"] >= 0 for p in described[name]["partitions"]), name


async def test_a_replication_factor_the_cluster_cannot_meet_is_refused_loudly(kafka: str) -> None:
    # The test cluster has one broker: a factor of 2 reaches the broker and is refused there.
    settings = settings_for(kafka, kafka_replication_factor=2, kafka_min_insync_replicas=2)
    with pytest.raises(InvalidReplicationFactorError, match="replication factor of 2"):
        await ensure_topics(settings, [(f"{new_prefix()}durable", 1)])


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ValidationError, match="no write could ever be acknowledged"):
        ServiceSettings(kafka_replication_factor=3, kafka_min_insync_replicas=4)
    three_brokers = ServiceSettings(kafka_replication_factor=3, kafka_min_insync_replicas=2)
    assert (three_brokers.kafka_replication_factor, three_brokers.kafka_min_insync_replicas) == (3, 2)


def worst_case_submission() -> ChatJobSubmitted:
    """A job whose prompt is as long as a request body may be, all control characters (each escaped to
    six bytes in JSON): more than any body under the limit can carry."""
    text = "\x01" * IngressSettings().body_max_bytes
    return ChatJobSubmitted(
        workspace_id="ws_big",
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id="key",
        model_id="openai/gpt-4.1-mini",
        route=("openai/gpt-4.1-mini",),
        input_tokens_estimate=len(text),
        params=ChatParameters(messages=(PromptMessage(role="user", content=text),), max_tokens=16),
    )


async def test_the_largest_event_a_request_can_produce_crosses_a_hop_whole(kafka: str) -> None:
    settings = settings_for(kafka)
    topic = f"{new_prefix()}{topics.JOBS_SUBMITTED}"
    await ensure_topics(settings, [(topic, 1)])
    event = worst_case_submission()
    value = encode(event)
    assert 6 * IngressSettings().body_max_bytes < len(value) <= settings.kafka_message_max_bytes

    # aiokafka's default limit (1 MB), the ledger's old one, refuses it: alignment is what lets it through.
    unaligned = AIOKafkaProducer(bootstrap_servers=kafka)
    await unaligned.start()
    try:
        with pytest.raises(MessageSizeTooLargeError):
            await unaligned.send_and_wait(topic, value)
    finally:
        await unaligned.stop()

    producer = new_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=topics.ledger_key(event.workspace_id))
    finally:
        await producer.stop()
    consumer = new_consumer(settings, topic, group_id=f"{topic}.reader")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=20_000)
    finally:
        await stop_consumer(consumer)
    records = [record for batch in batches.values() for record in batch]
    assert [record.value for record in records] == [value]
    assert decode(ChatJobSubmitted, records[0].value) == event
