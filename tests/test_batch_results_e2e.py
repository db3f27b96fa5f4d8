"""Durable batch results: served the same after ingress and ledger are killed and restarted, and pruned (answers
cleared, money untouched) once past the retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import batch_retention
from schemas.events import utc_now
from tests.batch_client import finished, jsonl, line, results, upload, wait_batch
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import assert_books_balance, balances


async def answering(stack: Stack, timeout_s: float = 60) -> None:
    """The ready file is written as the app starts; the socket may open a moment later."""
    health = stack.base_url.removesuffix("/api/v1") + "/healthz"
    async with httpx.AsyncClient() as probe:
        for _ in range(int(timeout_s / 0.1)):
            try:
                if (await probe.get(health)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"ingress not answering after a restart:\n{stack.ingress.log_tail()}")


async def test_results_survive_restarts_and_are_pruned_after_the_retention(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    created = await upload(client, workspace, jsonl([line(f"d{i}", f"Question {i}") for i in range(25)]))
    assert created.status_code == 201, created.text
    batch_id = created.json()["id"]
    await wait_batch(client, workspace, batch_id, finished, log=stack.ledger.log_tail)
    before = await results(client, workspace, batch_id)
    assert len(before) == 25 and all(row["answer"] for row in before)
    stack.ingress.kill()
    stack.ledger.kill()
    stack.ledger.start()
    stack.ingress.start()
    await answering(stack)
    assert await results(client, workspace, batch_id) == before
    spent = (await balances(engine, workspace.id))["spent"]

    # Not yet past the retention: nothing pruned.
    pruned = await batch_retention.prune(engine, retention_days=30, now=utc_now(), batches_max=100)
    assert batch_id not in pruned
    pruned = await batch_retention.prune(
        engine, retention_days=1, now=utc_now() + timedelta(days=2), batches_max=10_000
    )
    assert batch_id in pruned
    gone = await client.get(f"/batches/{batch_id}/results", headers=workspace.headers)
    assert gone.status_code == 404
    async with engine.connect() as conn:
        jobs = (
            await conn.execute(
                text("SELECT count(*), count(answer), sum(cost_tokens) FROM jobs WHERE workspace_id = :ws"),
                {"ws": workspace.id},
            )
        ).one()
    assert (jobs[0], jobs[1], jobs[2]) == (25, 0, spent)
    assert (await balances(engine, workspace.id))["spent"] == spent
    await assert_books_balance(engine)
