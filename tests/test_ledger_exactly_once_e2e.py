"""Exactly-once money through the real pipeline: redelivered events and a killed ledger change no sums."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import ChatJobSubmitted, JobFinished, UsageRecorded, decode
from tests.conftest import Stack, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import assert_books_balance, balances, entries_for

PROMPT = {"messages": [{"role": "user", "content": "Explain decorators in Python"}], "max_tokens": 64}


async def wait_for_results(stack: Stack, job_id: str, count: int, timeout_s: float = 30) -> list[JobFinished]:
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_RESULTS)
    deadline = time.monotonic() + timeout_s
    while True:
        found = [decode(JobFinished, v) for v in await read_all(stack.kafka, topic, key=topics.job_key(job_id))]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_redelivered_usage_and_submission_are_not_charged_twice(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = (await client.post("/chat/completions", json=PROMPT, headers=workspace.headers)).json()
    job_id = answer["id"]
    before = await balances(engine, workspace.id)

    usage_topic = topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE)
    submitted_topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    key = topics.ledger_key(workspace.id)
    usage = [v for v in await read_all(stack.kafka, usage_topic, key=key) if decode(UsageRecorded, v).job_id == job_id]
    submitted = [v for v in await read_all(stack.kafka, submitted_topic, key=key)
                 if decode(ChatJobSubmitted, v).job_id == job_id]
    assert len(usage) == 1 and len(submitted) == 1
    for _ in range(3):
        await publish(stack.kafka, usage_topic, key, usage[0])
        await publish(stack.kafka, submitted_topic, key, submitted[0])

    # Each redelivered usage re-announces the same settled result, with the same balance.
    results = await wait_for_results(stack, job_id, count=4)
    assert len(results) == 4
    assert {(r.cost_tokens, r.balance_left) for r in results} == {(answer["cost"], answer["balance_left"])}
    assert await balances(engine, workspace.id) == before
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    await assert_books_balance(engine)


async def test_killing_the_ledger_mid_stream_keeps_every_sum_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    jobs_count = 80
    workspace = await make_workspace(engine, tokens=1_000_000)
    headers = {**workspace.headers, "Prefer": "respond-async"}
    accepted = await asyncio.gather(
        *(client.post("/chat/completions", json=PROMPT, headers=headers) for _ in range(jobs_count))
    )
    assert all(response.status_code == 202 for response in accepted)
    job_ids = [response.json()["id"] for response in accepted]

    await asyncio.sleep(0.3)
    stack.ledger.kill()
    stack.ledger.start()

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            statuses = (await conn.execute(
                text("SELECT status, count(*) FROM jobs WHERE workspace_id = :ws GROUP BY status"),
                {"ws": workspace.id},
            )).all()
        if dict(statuses).get("completed") == jobs_count:
            break
        await asyncio.sleep(0.5)
    assert dict(statuses) == {"completed": jobs_count}, stack.ledger.log_tail()

    async with engine.connect() as conn:
        charged = (await conn.execute(
            text("SELECT sum(cost_tokens), sum(input_tokens + output_tokens) FROM jobs WHERE workspace_id = :ws"),
            {"ws": workspace.id},
        )).one()
        entry_counts = (await conn.execute(
            text("SELECT kind, count(*) FROM journal_transactions WHERE workspace_id = :ws GROUP BY kind"),
            {"ws": workspace.id},
        )).all()
    assert charged[0] == charged[1]
    assert dict(entry_counts) == {"grant": 1, "hold": jobs_count, "debit": jobs_count}
    assert await balances(engine, workspace.id) == {
        "available": 1_000_000 - charged[0], "held": 0, "spent": charged[0], "funding": -1_000_000,
    }
    for job_id in job_ids[:5]:
        polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        assert polled["status"] == "completed" and polled["cost"] > 0
    await assert_books_balance(engine)
