"""Exactly-once money through the real pipeline: redelivered events and a killed ledger change no sums."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import ChatJobSubmitted, JobFinished, UsageRecorded, decode
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import committed_offsets, end_offsets, publish, read_all
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
    submitted = [
        v for v in await read_all(stack.kafka, submitted_topic, key=key) if decode(ChatJobSubmitted, v).job_id == job_id
    ]
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


async def submit_async(client: httpx.AsyncClient, workspace: Workspace, count: int, body: dict[str, Any]) -> list[str]:
    headers = {**workspace.headers, "Prefer": "respond-async"}
    accepted = await asyncio.gather(
        *(client.post("/chat/completions", json=body, headers=headers) for _ in range(count))
    )
    assert all(response.status_code == 202 for response in accepted)
    return [response.json()["id"] for response in accepted]


async def wait_all_completed(engine: AsyncEngine, workspace_id: str, count: int, log: str) -> None:
    deadline = time.monotonic() + 90
    statuses: dict[str, int] = {}
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT status, count(*) FROM jobs WHERE workspace_id = :ws GROUP BY status"),
                    {"ws": workspace_id},
                )
            ).all()
        statuses = {row[0]: row[1] for row in rows}
        if statuses.get("completed") == count:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"jobs did not all complete: {statuses}\n{log}")


async def assert_each_job_billed_once(engine: AsyncEngine, workspace_id: str, count: int, granted: int) -> None:
    async with engine.connect() as conn:
        charged = (
            await conn.execute(
                text("SELECT sum(cost_tokens), sum(input_tokens + output_tokens) FROM jobs WHERE workspace_id = :ws"),
                {"ws": workspace_id},
            )
        ).one()
        entry_counts = (
            await conn.execute(
                text("SELECT kind, count(*) FROM journal_transactions WHERE workspace_id = :ws GROUP BY kind"),
                {"ws": workspace_id},
            )
        ).all()
    assert charged[0] == charged[1]
    assert {row[0]: row[1] for row in entry_counts} == {"grant": 1, "hold": count, "debit": count}
    assert await balances(engine, workspace_id) == {
        "available": granted - charged[0],
        "held": 0,
        "spent": charged[0],
        "funding": -granted,
    }
    await assert_books_balance(engine)


async def job_counts(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT status, count(*) FROM jobs WHERE workspace_id = :ws GROUP BY status"), {"ws": workspace_id}
            )
        ).all()
    return {row[0]: row[1] for row in rows}


IN_FLIGHT_AT_KILL = {
    # Some jobs are admitted (held), others are still waiting on jobs.submitted for the ledger.
    "admitting": lambda counts, total: 0 < sum(counts.values()) < total,
    # Some jobs are settled, others are admitted and their usage is on its way or waiting for the ledger.
    "settling": lambda counts, _total: counts.get("completed", 0) > 0 and counts.get("queued", 0) > 0,
}


@pytest.mark.parametrize("step", IN_FLIGHT_AT_KILL)
async def test_killing_the_ledger_with_work_in_flight_keeps_every_sum_exact(
    step: str, client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    jobs_count = 80
    workspace = await make_workspace(engine, tokens=1_000_000)
    headers = {**workspace.headers, "Prefer": "respond-async"}

    async def submit(n: int) -> str:
        # Provider latencies spread over ~1.5 s, so settlements arrive over time, not in one burst.
        body = {**PROMPT, "messages": [{"role": "user", "content": f"[fake latency_ms={100 + 20 * n}] q{n}"}]}
        response = await client.post("/chat/completions", json=body, headers=headers)
        assert response.status_code == 202
        job_id: str = response.json()["id"]
        return job_id

    async def submit_steadily() -> list[str]:
        ids = []
        for start in range(0, jobs_count, 8):  # ~8 jobs every 50 ms: admission is busy for a while
            ids += await asyncio.gather(*(submit(n) for n in range(start, start + 8)))
            await asyncio.sleep(0.05)
        return ids

    submitting = asyncio.create_task(submit_steadily())
    in_flight = IN_FLIGHT_AT_KILL[step]
    deadline = time.monotonic() + 30
    counts = await job_counts(engine, workspace.id)
    while not in_flight(counts, jobs_count):
        assert time.monotonic() < deadline, f"never saw work in flight at step {step}: {counts}"
        await asyncio.sleep(0.01)
        counts = await job_counts(engine, workspace.id)
    stack.ledger.kill()
    # Proven in flight at the kill (read just before it): the ledger dies holding unfinished work.
    assert in_flight(counts, jobs_count), counts
    job_ids = await submitting
    stack.ledger.start()

    await wait_all_completed(engine, workspace.id, jobs_count, stack.ledger.log_tail())
    await assert_each_job_billed_once(engine, workspace.id, jobs_count, 1_000_000)
    for job_id in job_ids[:5]:
        polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        assert polled["status"] == "completed" and polled["cost"] > 0


async def test_a_second_different_usage_for_the_same_job_is_not_a_second_settlement(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = (await client.post("/chat/completions", json=PROMPT, headers=workspace.headers)).json()
    job_id = answer["id"]
    before = await balances(engine, workspace.id)
    usage_topic = topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE)
    key = topics.ledger_key(workspace.id)
    [first] = [decode(UsageRecorded, v) for v in await read_all(stack.kafka, usage_topic, key=key)]
    # Another report for the same job: other counts, another answer, another event id (a confused worker).
    second = first.model_copy(
        update={"event_id": "second", "input_tokens": 900, "output_tokens": 900, "answer": "a different answer"}
    )
    await publish(stack.kafka, usage_topic, key, second.model_dump_json().encode())

    results = await wait_for_results(stack, job_id, count=2)
    assert len(results) == 2
    assert {(r.cost_tokens, r.balance_left, r.answer) for r in results} == {
        (answer["cost"], answer["balance_left"], answer["answer"])
    }
    assert await balances(engine, workspace.id) == before
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    await assert_books_balance(engine)


async def test_killing_the_workers_mid_call_redelivers_jobs_and_bills_each_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    jobs_count = 40
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 1500})
        calls_before = await slow_calls(fake)
        try:
            await submit_async(client, workspace, jobs_count, {**PROMPT, "model": "test/slow"})
            await asyncio.sleep(0.7)  # every call is in flight at the provider now
            stack.workers.kill()
            stack.workers.start()
            await wait_all_completed(engine, workspace.id, jobs_count, stack.workers.log_tail())
            calls = await slow_calls(fake) - calls_before
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-slow"})
    # The killed calls were made again (the provider saw more calls than jobs), yet each job is billed once.
    assert calls > jobs_count
    await assert_each_job_billed_once(engine, workspace.id, jobs_count, 1_000_000)


async def test_workers_killed_with_calls_proven_in_flight_finish_every_job_once_after_restart(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    jobs_count = 24
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 3000})
        try:
            before = await slow_call_counts(fake)
            job_ids = await submit_async(client, workspace, jobs_count, {**PROMPT, "model": "test/slow"})
            # The kill comes only once the provider holds every job's call, unanswered.
            deadline = time.monotonic() + 20
            while (await slow_call_counts(fake))["in_flight"] - before["in_flight"] < jobs_count:
                assert time.monotonic() < deadline, f"calls never all in flight: {await slow_call_counts(fake)}"
                await asyncio.sleep(0.05)
            at_kill = await slow_call_counts(fake)
            stack.workers.kill()
            stack.workers.start()
            await wait_all_completed(engine, workspace.id, jobs_count, stack.workers.log_tail())
            after = await slow_call_counts(fake)
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-slow"})
    assert at_kill["answered"] == before["answered"], "no call had been answered when the workers died"
    # Every killed call was made again by the restarted workers, and each job still settled once.
    assert after["received"] - before["received"] >= 2 * jobs_count
    await assert_each_job_billed_once(engine, workspace.id, jobs_count, 1_000_000)
    for job_id in job_ids:
        assert await entries_for(engine, job_id) == ["hold", "debit"]
        polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        assert polled["status"] == "completed"


async def slow_call_counts(fake: httpx.AsyncClient) -> dict[str, int]:
    counts: dict[str, int] = (
        (await fake.get("/_fake/calls"))
        .json()["calls"]
        .get("test-slow", {"received": 0, "answered": 0, "in_flight": 0})
    )
    return counts


async def slow_calls(fake: httpx.AsyncClient) -> int:
    recorded = (await fake.get("/_fake/requests")).json()["requests"]
    return sum(1 for r in recorded if (r.get("json") or {}).get("model") == "test-slow")


async def test_the_ledger_commits_the_offsets_of_what_it_has_settled(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    for _ in range(5):
        assert (await client.post("/chat/completions", json=PROMPT, headers=workspace.headers)).status_code == 200
    group = f"{stack.topic_prefix}ledger"
    deadline = time.monotonic() + 15
    while True:
        lagging = {}
        for name in (topics.JOBS_SUBMITTED, topics.JOBS_USAGE):
            topic = topics.prefixed(stack.topic_prefix, name)
            ends, committed = await end_offsets(stack.kafka, topic), await committed_offsets(stack.kafka, group, topic)
            lagging |= {(name, p): end - committed.get(p, 0) for p, end in ends.items() if committed.get(p, 0) < end}
        if not lagging or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    # A restart replays only what was not yet done, not the whole history.
    assert lagging == {}
