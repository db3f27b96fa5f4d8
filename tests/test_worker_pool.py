"""A model pool on the real Kafka against the fake provider: backpressure, poison dispatches, deadlines, big events.

Each test runs one `ModelPool` in-process on topics of its own, feeds its dispatch topic directly and reads
what it published, so what is proven is the pool's consume loop itself.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from fakeprovider.testing import RunningFakeProvider
from runtime.catalogue_file import load_catalogue
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import (
    ChatJobDispatched,
    ChatParameters,
    EventDeadLettered,
    PromptMessage,
    UsageRecorded,
    decode,
    encode,
)
from tests import services
from tests.kafka_probe import committed_offsets, end_offsets, publish, read_all
from tests.topic_cleanup import worker_topics
from workers.app import new_http_client, provider_slots
from workers.pool import ModelPool
from workers.settings import WorkerSettings

CATALOGUE_PATH = Path(__file__).resolve().parents[1] / "config" / "models.toml"
MODEL_ID = "openai/gpt-4.1-mini"
UPSTREAM = "gpt-4.1-mini"
POOL = "openai"


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


@pytest.fixture
async def prefix(kafka: str, fake: RunningFakeProvider) -> str:
    """Topics of this test alone (two partitions per dispatch lane), and a fake provider with no script."""
    fake.reset()
    return await worker_topics(kafka, POOL, tag="p", dispatch_partitions=2)


def worker_settings(kafka: str, prefix: str, fake: RunningFakeProvider, **overrides: object) -> WorkerSettings:
    fields: dict[str, object] = {
        "kafka_bootstrap_servers": kafka,
        "topic_prefix": prefix,
        "catalogue_path": CATALOGUE_PATH,
        "provider_base_urls": {
            "openai": f"{fake.url}/openai/v1",
            "anthropic": f"{fake.url}/anthropic",
            "gemini": f"{fake.url}/gemini",
            "llama": f"{fake.url}/openai/v1",
        },
        "backoff_base_s": 0.01,
        "commit_interval_s": 0.1,
        **overrides,
    }
    return WorkerSettings(**fields)  # type: ignore[arg-type]


@asynccontextmanager
async def running_pool(
    settings: WorkerSettings, catalogue: Catalogue, producer: AIOKafkaProducer | None = None
) -> AsyncIterator[ModelPool]:
    own_producer = producer is None
    producer = producer or AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    if own_producer:
        await producer.start()
    async with new_http_client(settings) as client:
        pool = ModelPool(POOL, settings, catalogue, provider_slots(settings, catalogue, client), producer)
        await pool.start()
        runner = asyncio.create_task(pool.run())
        try:
            yield pool
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await pool.stop()
            if own_producer:
                await producer.stop()


@pytest.fixture(autouse=True)
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "LLAMA_API_KEY"):
        monkeypatch.setenv(name, "fake-key")


def dispatch(job_id: str, *, deadline_at: datetime | None = None, route: tuple[str, ...] = (MODEL_ID,)) -> bytes:
    return encode(
        ChatJobDispatched(
            workspace_id="ws_pool",
            job_id=job_id,
            model_id=route[0],
            route=route,
            hold_tokens=1000,
            params=ChatParameters(messages=(PromptMessage(role="user", content="hello pool"),), max_tokens=20),
            deadline_at=deadline_at,
        )
    )


async def send_dispatch(kafka: str, prefix: str, job_id: str, value: bytes) -> None:
    topic = topics.prefixed(prefix, topics.dispatch_topic(POOL, topics.Lane.INTERACTIVE))
    await publish(kafka, topic, topics.job_key(job_id), value)


async def usage_events(kafka: str, prefix: str, count: int, timeout_s: float = 60) -> list[UsageRecorded]:
    """The usage events published so far, once there are at least `count` (fails after `timeout_s`)."""
    topic = topics.prefixed(prefix, topics.JOBS_USAGE)
    deadline = time.monotonic() + timeout_s
    while True:
        found = [decode(UsageRecorded, value) for value in await read_all(kafka, topic)]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"only {len(found)} of {count} usage events arrived"
        await asyncio.sleep(0.3)


async def fully_committed(kafka: str, prefix: str, timeout_s: float = 20) -> bool:
    group = f"{prefix}luntrex-pool-{POOL}"
    topic = topics.prefixed(prefix, topics.dispatch_topic(POOL, topics.Lane.INTERACTIVE))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ends, committed = await end_offsets(kafka, topic), await committed_offsets(kafka, group, topic)
        if all(committed.get(partition, 0) == end for partition, end in ends.items()):
            return True
        await asyncio.sleep(0.3)
    return False


async def test_a_pool_slower_than_the_poll_interval_keeps_its_jobs_and_runs_each_once(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # Each call takes longer than the poll interval, and the pool holds two at a time: a pool that waited for
    # a free slot inside its poll loop would stop polling for ~4 s, be evicted, and run its jobs again.
    settings = worker_settings(
        kafka, prefix, fake, pool_concurrency_max=2, kafka_max_poll_interval_ms=2500, poll_wait_ms=200
    )
    fake.set_scenario(UPSTREAM, latency_ms=4000)
    jobs = [f"job_slow_{index}" for index in range(6)]
    for job_id in jobs:
        await send_dispatch(kafka, prefix, job_id, dispatch(job_id))

    async with running_pool(settings, catalogue) as pool:
        await asyncio.sleep(1.0)
        # Saturated, yet polling: at most the limit (plus one record from a mid-poll assignment) is running.
        assert pool.in_flight() <= 3
        assert fake.calls(UPSTREAM)["in_flight"] <= 3
        usage = await usage_events(kafka, prefix, len(jobs), timeout_s=90)
        await asyncio.sleep(2.0)  # room for a duplicate to show, had any job run twice
        usage = await usage_events(kafka, prefix, len(jobs))
        assert await fully_committed(kafka, prefix)

    assert fake.calls(UPSTREAM) == {"received": len(jobs), "answered": len(jobs), "in_flight": 0}
    assert sorted(u.job_id for u in usage) == sorted(jobs)
    assert {u.outcome for u in usage} == {"completed"}


async def test_an_idle_pool_takes_jobs_published_after_its_long_polls_and_commits_them(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # The default waits: an idle pool's poll and its broker fetch wait long, and its committer sleeps until a job
    # ends. A job published after all of them have run out, and a pair that fills a pool of one (paused after
    # the first, resumed when it ends), must still be taken, run once and committed.
    settings = WorkerSettings(
        **{**worker_settings(kafka, prefix, fake).model_dump(), "pool_concurrency_max": 1, "commit_interval_s": 0.2}
    )
    assert settings.poll_wait_ms == 5000 and settings.kafka_fetch_max_wait_ms == 1000
    async with running_pool(settings, catalogue):
        await send_dispatch(kafka, prefix, "job_first", dispatch("job_first"))
        await usage_events(kafka, prefix, 1)
        assert await fully_committed(kafka, prefix)
        await asyncio.sleep(settings.poll_wait_ms / 1000 + 1.0)  # idle past every wait
        fake.set_scenario(UPSTREAM, latency_ms=300)
        for job_id in ("job_after_idle_1", "job_after_idle_2"):
            await send_dispatch(kafka, prefix, job_id, dispatch(job_id))
        usage = await usage_events(kafka, prefix, 3)
        assert await fully_committed(kafka, prefix)

    assert sorted(u.job_id for u in usage) == ["job_after_idle_1", "job_after_idle_2", "job_first"]
    assert {u.outcome for u in usage} == {"completed"}
    assert fake.calls(UPSTREAM) == {"received": 3, "answered": 3, "in_flight": 0}


async def test_unreadable_dispatches_are_dead_lettered_their_jobs_failed_and_the_rest_runs(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    garbage = b"\xff\xfe not json at all"
    invalid = b'{"job_id": "job_invalid", "workspace_id": "ws_pool", "type": "chat.job.dispatched"}'
    gone_model = dispatch("job_gone", route=("openai/retired-model",))
    # One key puts all of them, and the good job behind them, on one partition, in this order.
    for value in (garbage, invalid, gone_model, dispatch("job_good")):
        await publish(
            kafka, topics.prefixed(prefix, topics.dispatch_topic(POOL, topics.Lane.INTERACTIVE)), b"one-key", value
        )

    async with running_pool(worker_settings(kafka, prefix, fake), catalogue):
        usage = {u.job_id: u for u in await usage_events(kafka, prefix, 3)}
        assert await fully_committed(kafka, prefix)
    letters = [
        decode(EventDeadLettered, v) for v in await read_all(kafka, topics.prefixed(prefix, topics.DEAD_LETTERS))
    ]

    assert [base64.b64decode(letter.value_b64) for letter in letters] == [garbage, invalid, gone_model]
    assert all(letter.consumer == "workers.openai" and letter.source_offset is not None for letter in letters)
    assert [letter.job_id for letter in letters] == [None, "job_invalid", "job_gone"]
    assert "retired-model" in letters[2].reason
    assert set(usage) == {"job_invalid", "job_gone", "job_good"}
    assert usage["job_good"].outcome == "completed"
    for job_id, code in (("job_invalid", "internal_error"), ("job_gone", "model_not_found")):
        failed = usage[job_id]
        assert (failed.outcome, failed.workspace_id, failed.attempts) == ("failed", "ws_pool", 0)
        assert failed.error is not None and failed.error.code == code
    assert fake.calls(UPSTREAM)["received"] == 1


async def test_a_job_past_its_deadline_never_reaches_the_provider(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    await send_dispatch(kafka, prefix, "job_late", dispatch("job_late", deadline_at=past))

    async with running_pool(worker_settings(kafka, prefix, fake), catalogue):
        [usage] = await usage_events(kafka, prefix, 1)
        assert await fully_committed(kafka, prefix)

    assert (usage.job_id, usage.outcome, usage.attempts) == ("job_late", "expired", 0)
    assert usage.error is not None and usage.error.code == "expired"
    assert fake.calls(UPSTREAM)["received"] == 0
    assert fake.recorded_requests() == []


async def test_a_deadline_during_a_slow_call_ends_the_job_expired_at_the_deadline(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    fake.set_scenario(UPSTREAM, latency_ms=30_000)
    async with running_pool(worker_settings(kafka, prefix, fake), catalogue):
        # Sent once the pool runs, so a slow start on a loaded machine cannot expire the job before its call.
        soon = datetime.now(UTC) + timedelta(seconds=5)
        await send_dispatch(kafka, prefix, "job_soon", dispatch("job_soon", deadline_at=soon))
        [usage] = await usage_events(kafka, prefix, 1, timeout_s=20)

    assert (usage.outcome, usage.attempts) == ("expired", 1)
    assert usage.occurred_at < soon + timedelta(seconds=5)
    assert fake.calls(UPSTREAM)["received"] == 1


async def test_usage_too_big_for_kafka_becomes_a_failure_without_the_answer(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # A producer whose limit is under the answer, as a topic configured below the settings would be.
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, max_request_size=20_000)
    await producer.start()
    fake.set_scenario(UPSTREAM, answer_bytes=50_000)
    await send_dispatch(kafka, prefix, "job_big", dispatch("job_big"))
    await send_dispatch(kafka, prefix, "job_small", dispatch("job_small", route=("openai/gpt-5",)))
    try:
        async with running_pool(worker_settings(kafka, prefix, fake), catalogue, producer):
            usage = {u.job_id: u for u in await usage_events(kafka, prefix, 2)}
            assert await fully_committed(kafka, prefix)
    finally:
        await producer.stop()

    big = usage["job_big"]
    assert (big.outcome, big.answer, big.input_tokens, big.output_tokens) == ("failed", None, 0, 0)
    assert big.error is not None and big.error.code == "upstream_error" and "too large" in big.error.message
    assert usage["job_small"].outcome == "completed"
    assert fake.calls(UPSTREAM)["received"] == 1


async def test_a_pool_joining_the_group_does_not_run_again_what_the_other_had_in_flight(
    kafka: str, prefix: str, fake: RunningFakeProvider, catalogue: Catalogue
) -> None:
    # A rebalance takes partitions from a pool with calls in flight; it waits for them (up to revoke_wait_s)
    # and commits, so the next owner starts after them instead of calling the provider again.
    # Calls outlast the heartbeat interval (3 s) by which the first pool learns of the rebalance.
    settings = worker_settings(kafka, prefix, fake, revoke_wait_s=8.0)
    fake.set_scenario(UPSTREAM, latency_ms=5000)
    jobs = [f"job_moved_{index}" for index in range(8)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        topic = topics.prefixed(prefix, topics.dispatch_topic(POOL, topics.Lane.INTERACTIVE))
        for index, job_id in enumerate(jobs):
            await producer.send_and_wait(topic, dispatch(job_id), key=topics.job_key(job_id), partition=index % 2)
    finally:
        await producer.stop()

    async with running_pool(settings, catalogue) as first:
        deadline = time.monotonic() + 20
        while fake.calls(UPSTREAM)["in_flight"] < len(jobs):
            assert time.monotonic() < deadline, fake.calls(UPSTREAM)
            await asyncio.sleep(0.05)
        async with running_pool(settings, catalogue) as second:
            usage = await usage_events(kafka, prefix, len(jobs), timeout_s=60)
            await asyncio.sleep(3.0)  # room for a second run of any job to show
            usage = await usage_events(kafka, prefix, len(jobs))
            assert first.in_flight() == second.in_flight() == 0

    assert fake.calls(UPSTREAM)["received"] == len(jobs)
    assert sorted(u.job_id for u in usage) == sorted(jobs)
