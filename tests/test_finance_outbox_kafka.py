"""The finance outbox published to a real Kafka topic: due retries run, every event goes out once per tick
and is marked, and a second tick publishes nothing new."""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import finance_events, finance_tick, thresholds
from ledger.topups import Finance, TopupPolicy
from runtime.settings import ServiceSettings
from schemas import topics
from schemas.events import encode
from schemas.finance import FINANCE_EVENTS, FinanceEvent
from tests.conftest import make_workspace
from tests.kafka_probe import read_all
from tests.test_finance_ledger import settle_jobs
from tests.topic_cleanup import ensure_topics

FAST = Finance.local(policy=TopupPolicy(attempts_max=3, backoff_base_s=0.0, backoff_max_s=0.0))


async def test_a_tick_retries_due_topups_and_publishes_the_outbox_once(
    engine: AsyncEngine, kafka: str, topic_prefix: str
) -> None:
    topic = topics.prefixed(topic_prefix, f"{FINANCE_EVENTS}.{uuid.uuid4().hex[:6]}")
    await ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka), [(topic, 1)])
    # Events of earlier tests in this session are published first, so only this workspace's are counted.
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        await thresholds.set_auto_topup(
            conn, workspace.id, threshold_tokens=500, amount_paisa=1_003, method="card", enabled=True
        )
    await settle_jobs(engine, workspace.id, [600], FAST)  # crossed, and the first card attempt failed
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()

    async def publish(events: list[FinanceEvent]) -> None:
        sent = [await producer.send(topic, encode(e), key=topics.ledger_key(e.workspace_id)) for e in events]
        for delivery in sent:
            await delivery

    try:
        published = 0
        for _ in range(4):  # attempt 2 fails, attempt 3 succeeds, then nothing is left to do
            published += await finance_tick.tick(engine, FAST, publish, retries_max=100, events_max=10_000)
        assert await finance_tick.tick(engine, FAST, publish, retries_max=100, events_max=10_000) == 0
    finally:
        await producer.stop()
    mine = await read_all(kafka, topic, key=topics.ledger_key(workspace.id))
    types = [json.loads(value)["type"] for value in mine]
    assert types == ["balance.threshold_crossed", "topup.failed", "topup.failed", "topup.succeeded"]
    async with engine.connect() as conn:
        left = [e for _, e in await finance_events.unpublished(conn, 10_000) if e.workspace_id == workspace.id]
    assert left == [] and published >= len(mine)
