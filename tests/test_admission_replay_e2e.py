"""A redelivered submission does not send a running job to its provider again.

Admission records a job's dispatch once the broker acknowledged it (`jobs.dispatched_at`); a replay of the
submission (Kafka redelivers, a producer retries) finds the job queued and dispatched and publishes nothing.
The provider's own call counter is the witness: one call, one hold, one debit.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, encode
from tests.conftest import Stack, make_workspace
from tests.kafka_probe import publish
from tests.ledger_checks import entries_for
from tests.test_ledger_exactly_once_e2e import slow_call_counts
from tests.test_money_e2e import another_workspace_completes, assert_book_exact


async def job_state(engine: AsyncEngine, job_id: str) -> tuple[str | None, bool]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT status, dispatched_at FROM jobs WHERE id = :id"), {"id": job_id})
        ).first()
    return (None, False) if row is None else (row.status, row.dispatched_at is not None)


async def wait_state(engine: AsyncEngine, job_id: str, wanted: tuple[str, bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (state := await job_state(engine, job_id)) != wanted:
        assert time.monotonic() < deadline, f"job {job_id} is {state}, never reached {wanted}"
        await asyncio.sleep(0.1)


async def test_a_redelivered_submission_of_a_running_job_calls_the_provider_once_and_bills_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    job = ChatJobSubmitted(
        workspace_id=workspace.id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id=workspace.key_id,
        model_id="test/slow",
        route=("test/slow",),
        input_tokens_estimate=20,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=16),
    )
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        # Slow enough that every redelivery below reaches the ledger while the first call is at the provider.
        await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 4000})
        try:
            before = await slow_call_counts(fake)
            await publish(stack.kafka, topic, topics.ledger_key(workspace.id), encode(job))
            await wait_state(engine, job.job_id, ("queued", True))
            # Redelivered: twice back to back (one batch, or two) while the job runs.
            for _ in range(2):
                await publish(stack.kafka, topic, topics.ledger_key(workspace.id), encode(job))
            await wait_state(engine, job.job_id, ("completed", True))
            # Any second dispatch would have reached the provider by now (the workers are idle otherwise).
            await asyncio.sleep(2)
            after = await slow_call_counts(fake)
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-slow"})
    assert after["received"] - before["received"] == 1
    assert await entries_for(engine, job.job_id) == ["hold", "debit"]
    polled = (await client.get(f"/jobs/{job.job_id}", headers=workspace.headers)).json()
    assert polled["status"] == "completed"
    await another_workspace_completes(client, engine)
    await assert_book_exact(engine)
