"""Reads and writes test topics directly, to observe or replay what the services exchanged."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from runtime.kafka import consumer_size_options, partitions_of, stop_consumer
from runtime.settings import ServiceSettings


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        assert partitions, f"topic {topic} does not exist"
        tps = [TopicPartition(topic, p) for p in partitions]
        offsets = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in offsets.items()}
    finally:
        await stop_consumer(consumer)


async def read_all(bootstrap: str, topic: str, key: bytes | None = None) -> list[bytes]:
    """Every value on the topic (optionally only those with `key`), from the beginning to the current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **consumer_size_options(ServiceSettings()),
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        assert partitions, f"topic {topic} does not exist"
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                values.extend(r.value for r in records if key is None or r.key == key)
        return values
    finally:
        await stop_consumer(consumer)


async def publish(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    # As large as any hop allows, so a test can put the largest legal (or a deliberately oversized) event on a topic.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=ServiceSettings().kafka_message_max_bytes + 65_536
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def committed_offsets(bootstrap: str, group_id: str, topic: str) -> dict[int, int]:
    """The offsets a consumer group has committed on a topic, by partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    finally:
        await admin.close()
