"""Consumer lag is the records a group has not committed yet, per partition, read from the real broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from runtime.lag import LagMonitor
from runtime.metrics import consumer_lag_gauge
from runtime.settings import ServiceSettings
from tests.topic_cleanup import ensure_topics

pytestmark = pytest.mark.integration


async def test_lag_counts_uncommitted_records_and_forgets_groups_that_go(kafka: str) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka)
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"lag-group-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [(topic, 2)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for _ in range(5):
            await producer.send_and_wait(topic, b"x", partition=0)
        await producer.send_and_wait(topic, b"x", partition=1)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        await consumer.commit({TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 1})
    finally:
        await consumer.stop()

    registry = CollectorRegistry()
    gauge = consumer_lag_gauge(registry)
    groups = [group]
    monitor = LagMonitor(settings, lambda: groups, gauge)
    try:
        await monitor.sample()
        labels = {"group": group, "topic": topic}
        assert registry.get_sample_value("luntrex_kafka_consumer_lag", {**labels, "partition": "0"}) == 3
        assert registry.get_sample_value("luntrex_kafka_consumer_lag", {**labels, "partition": "1"}) == 0
        groups.clear()
        await monitor.sample()
        assert registry.get_sample_value("luntrex_kafka_consumer_lag", {**labels, "partition": "0"}) is None
    finally:
        await monitor.close()
