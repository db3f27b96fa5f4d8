"""Interactive before batch: the two lanes of a pool on the real Kafka against the fake provider, and the limiter.

The pools run in-process on topics of their own; batch dispatches are published straight to the batch topic
(the batch feeder is another module's), and a watcher notes when each job's usage event appears.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fakeprovider.testing import RunningFakeProvider
from runtime.catalogue_file import load_catalogue
from runtime.kafka import stop_consumer
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import ChatJobDispatched, ChatParameters, PromptMessage, UsageRecorded, decode, encode
from schemas.topics import Lane
from tests import services
from tests.topic_cleanup import worker_topics
from workers.app import new_http_client, provider_slots
from workers.execution import ProviderSlot
from workers.lanes import LaneLimiter
from workers.pool import ModelPool
from workers.settings import WorkerSettings

CATALOGUE_PATH = Path(__file__).resolve().parents[1] / "config" / "models.toml"
MODEL_ID = "openai/gpt-4.1-mini"
UPSTREAM = "gpt-4.1-mini"
POOL = "openai"


# The limiter alone: which lane gets a slot, without Kafka or time.


async def test_batch_jobs_never_take_the_slots_kept_for_interactive_jobs() -> None:
    limiter = LaneLimiter(4, batch_max=3, batch_min=1)
    for _ in range(3):
        await limiter.acquire(Lane.BATCH)
    fourth_batch = asyncio.create_task(limiter.acquire(Lane.BATCH))
    await asyncio.sleep(0)
    assert not fourth_batch.done(), "a batch job beyond the batch ceiling must wait"
    # The slot left is an interactive job's at once, however many batch jobs wait.
    await asyncio.wait_for(limiter.acquire(Lane.INTERACTIVE), timeout=1)
    assert (limiter.in_use(Lane.BATCH), limiter.in_use(Lane.INTERACTIVE)) == (3, 1)
    fourth_batch.cancel()


async def test_a_freed_slot_goes_to_the_waiting_interactive_job_unless_batches_are_below_their_floor() -> None:
    limiter = LaneLimiter(2, batch_max=1, batch_min=1)
    await limiter.acquire(Lane.INTERACTIVE)
    await limiter.acquire(Lane.INTERACTIVE)
    batch = asyncio.create_task(limiter.acquire(Lane.BATCH))
    interactive = asyncio.create_task(limiter.acquire(Lane.INTERACTIVE))
    await asyncio.sleep(0)
    # Batches hold nothing, below their floor of one: the first freed slot is theirs, so they progress.
    limiter.release(Lane.INTERACTIVE)
    await asyncio.sleep(0)
    assert batch.done() and not interactive.done()
    # At the floor, the next freed slot goes to the interactive job even though a batch job waits too.
    second_batch = asyncio.create_task(limiter.acquire(Lane.BATCH))
    await asyncio.sleep(0)
    limiter.release(Lane.INTERACTIVE)
    await asyncio.sleep(0)
    assert interactive.done() and not second_batch.done()
    limiter.release(Lane.BATCH)
    await asyncio.sleep(0)
    assert second_batch.done()
    assert (limiter.in_use(Lane.BATCH), limiter.in_use(Lane.INTERACTIVE)) == (1, 1)


async def test_a_waiter_cancelled_after_its_grant_hands_the_slot_on() -> None:
    limiter = LaneLimiter(1, batch_max=1, batch_min=1)
    await limiter.acquire(Lane.INTERACTIVE)
    first = asyncio.create_task(limiter.acquire(Lane.INTERACTIVE))
    second = asyncio.create_task(limiter.acquire(Lane.INTERACTIVE))
    await asyncio.sleep(0)
    limiter.release(Lane.INTERACTIVE)  # granted to `first`, which is cancelled before it runs
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, timeout=1)
    assert limiter.in_use(Lane.INTERACTIVE) == 1


def test_shares_become_whole_slots_and_always_leave_one_for_interactive_jobs() -> None:
    defaults = LaneLimiter.from_shares(256, batch_share_max=0.75, batch_share_min=0.1)
    assert (defaults.batch_max, defaults.batch_min) == (192, 25)
    limiter = LaneLimiter.from_shares(4, batch_share_max=1.0, batch_share_min=0.01)
    assert (limiter.batch_max, limiter.batch_min) == (3, 1)


# Both lanes of a pool on the real Kafka.


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeProvider]:
    with RunningFakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def kafka() -> str:
    return services.kafka_bootstrap()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(CATALOGUE_PATH)


@pytest.fixture(autouse=True)
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "LLAMA_API_KEY"):
        monkeypatch.setenv(name, "fake-key")


@pytest.fixture
async def prefix(kafka: str, fake: RunningFakeProvider) -> str:
    fake.reset()
    return await worker_topics(kafka, POOL, tag="l", dispatch_partitions=4)


def lane_settings(kafka: str, prefix: str, fake: RunningFakeProvider, **overrides: object) -> WorkerSettings:
    fields: dict[str, object] = {
        "kafka_bootstrap_servers": kafka,
        "topic_prefix": prefix,
        "catalogue_path": CATALOGUE_PATH,
        "provider_base_urls": {"openai": f"{fake.url}/openai/v1"},
        "commit_interval_s": 0.1,
        "poll_wait_ms": 100,
        **overrides,
    }
    return WorkerSettings(**fields)  # type: ignore[arg-type]


class UsageWatch:
    """Notes when each job's usage event is first seen on the usage topic (monotonic seconds)."""

    def __init__(self) -> None:
        self.seen_at: dict[str, float] = {}
        # The lane each usage record says it came from (the header the ledger settles the lanes apart by).
        self.lanes: dict[str, bytes | None] = {}

    def count(self, job_prefix: str) -> int:
        return sum(1 for job_id in self.seen_at if job_id.startswith(job_prefix))

    async def watch(self, kafka: str, topic: str) -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=50)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        usage = decode(UsageRecorded, record.value or b"")
                        assert usage.outcome == "completed", usage
                        self.seen_at.setdefault(usage.job_id, now)
                        self.lanes[usage.job_id] = dict(record.headers).get(topics.LANE_HEADER)
        finally:
            await stop_consumer(consumer)

    async def wait_for_all(self, job_ids: list[str], timeout_s: float) -> None:
        for job_id in job_ids:
            await self.wait_for(job_id, timeout_s)

    async def wait_for(self, job_id: str, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while job_id not in self.seen_at:
            assert time.monotonic() < deadline, f"no usage for {job_id} within {timeout_s} s"
            await asyncio.sleep(0.02)
        return self.seen_at[job_id]


@asynccontextmanager
async def both_lanes(
    settings: WorkerSettings, catalogue: Catalogue, limiter: LaneLimiter | None = None
) -> AsyncIterator[UsageWatch]:
    """An interactive and a batch pool sharing one producer and provider slots, and a watch on their usage."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True, linger_ms=1
    )
    await producer.start()
    watch = UsageWatch()
    watcher = asyncio.create_task(
        watch.watch(settings.kafka_bootstrap_servers, topics.prefixed(settings.topic_prefix, topics.JOBS_USAGE))
    )
    pools: list[ModelPool] = []
    runners: list[asyncio.Task[None]] = []
    try:
        async with new_http_client(settings) as client:
            slots = provider_slots(settings, catalogue, client)
            if limiter is not None:
                slots = {name: ProviderSlot(slot.adapter, limiter, slot.timeout_s) for name, slot in slots.items()}
            for lane in Lane:
                pools.append(ModelPool(POOL, settings, catalogue, slots, producer, lane=lane))
                await pools[-1].start()
            runners = [asyncio.create_task(pool.run()) for pool in pools]
            yield watch
    finally:
        for task in [*runners, watcher]:
            task.cancel()
        await asyncio.gather(*runners, watcher, return_exceptions=True)
        for pool in pools:
            await pool.stop()
        await producer.stop()


def dispatch(job_id: str, lane: Lane) -> bytes:
    return encode(
        ChatJobDispatched(
            workspace_id="ws_lanes",
            job_id=job_id,
            model_id=MODEL_ID,
            route=(MODEL_ID,),
            hold_tokens=1000,
            params=ChatParameters(messages=(PromptMessage(role="user", content="hello lanes"),), max_tokens=20),
            lane=lane.value,
        )
    )


async def publish_jobs(kafka: str, prefix: str, lane: Lane, job_ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5)
    await producer.start()
    try:
        topic = topics.prefixed(prefix, topics.dispatch_topic(POOL, lane))
        sent = [await producer.send(topic, dispatch(job_id, lane), key=topics.job_key(job_id)) for job_id in job_ids]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_an_interactive_job_does_not_wait_for_a_batch_backlog(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # 600 batch jobs of 0.3 s, 16 at a time: about 11 s of backlog. One queue for both lanes would put the
    # interactive job behind it (the pool holds 16 jobs in all); with lanes it waits for no batch job at all.
    fake.set_scenario(UPSTREAM, latency_ms=300)
    settings = lane_settings(kafka, prefix, fake, pool_concurrency_max=16, pool_batch_concurrency_max=16)
    batch = [f"batch_{index}" for index in range(600)]
    await publish_jobs(kafka, prefix, Lane.BATCH, batch)
    async with both_lanes(settings, catalogue) as watch:
        await watch.wait_for_all(batch[:16], timeout_s=30)  # the batch lane is draining at full speed
        timings_s = []
        for index in range(3):
            sent_at = time.monotonic()
            await publish_jobs(kafka, prefix, Lane.INTERACTIVE, [f"interactive_{index}"])
            timings_s.append(await watch.wait_for(f"interactive_{index}", timeout_s=30) - sent_at)
        batch_done = watch.count("batch_")
        # One provider call is 0.3 s; the bound leaves room for a loaded machine, yet is far under the backlog.
        assert max(timings_s) < 3.0, timings_s
        # Behind one shared queue they would have come after all 600; here the backlog is still draining.
        assert batch_done < len(batch), "the backlog was still there while the interactive jobs ran"
        assert fake.calls(UPSTREAM)["in_flight"] <= 16 + 1
        await watch.wait_for_all(batch, timeout_s=120)
    assert watch.count("batch_") == len(batch)
    assert {watch.lanes[job_id] for job_id in batch} == {b"batch"}
    assert {watch.lanes[f"interactive_{index}"] for index in range(3)} == {b"interactive"}


async def test_batches_progress_while_interactive_traffic_fills_the_provider(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # The provider takes 4 calls at once; interactive jobs (8 in flight) always wait for it. Strict priority alone
    # would starve the batch lane; its floor of one slot keeps it moving.
    fake.set_scenario(UPSTREAM, latency_ms=100)
    settings = lane_settings(kafka, prefix, fake, pool_concurrency_max=8, pool_batch_concurrency_max=8)
    limiter = LaneLimiter(4, batch_max=3, batch_min=1)
    interactive = [f"interactive_{index}" for index in range(240)]
    batch = [f"batch_{index}" for index in range(200)]
    await publish_jobs(kafka, prefix, Lane.INTERACTIVE, interactive)
    await publish_jobs(kafka, prefix, Lane.BATCH, batch)
    async with both_lanes(settings, catalogue, limiter) as watch:
        await watch.wait_for_all(interactive, timeout_s=120)
        last_interactive_s = max(watch.seen_at[job_id] for job_id in interactive)
        batch_before = sum(1 for job_id in batch if watch.seen_at.get(job_id, last_interactive_s) < last_interactive_s)
        # 240 interactive calls through three slots take ~8 s; one slot of batches in that time does ~10 per second.
        assert batch_before >= 10, f"only {batch_before} batch jobs finished while interactive traffic ran"
        assert batch_before < len(batch), "interactive traffic went first for most of the provider's slots"
        await watch.wait_for_all(batch, timeout_s=60)
