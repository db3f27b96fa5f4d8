"""A suspended workspace's batches on the real services: nothing more is released or billed while it is suspended
(jobs released before run and are billed), another workspace's batch completes meanwhile, the operator cancels a
suspended workspace's batch, and resuming lets the other go on to the end, every sum exact."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import verify
from ledger.batch_store import batch_job_prefix
from tests.batch_client import finished, jsonl, line, results, upload, wait_batch
from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Slow enough that the batch is still being released when the suspension lands, and that jobs released before it
# are still running then.
SLOW = "Say hi [fake latency_ms=1500]"


@dataclass(frozen=True)
class Released:
    jobs: int
    queued: int
    cost: int


async def released(engine: AsyncEngine, batch_id: str) -> Released:
    """The batch's jobs (lines released), those still held, and what the settled ones cost, from the book."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'queued'), coalesce(sum(cost_tokens), 0) "
                    "FROM jobs WHERE id LIKE :prefix"
                ),
                {"prefix": batch_job_prefix(batch_id)},
            )
        ).one()
    return Released(row[0], row[1], int(row[2]))


async def create(client: httpx.AsyncClient, workspace: Workspace, prefix: str, count: int) -> str:
    created = await upload(client, workspace, jsonl([line(f"{prefix}{i}", SLOW, max_tokens=5) for i in range(count)]))
    assert created.status_code == 201, created.text
    batch_id: str = created.json()["id"]
    return batch_id


async def admin_cancel(client: httpx.AsyncClient, batch_id: str) -> dict[str, object]:
    answer = await client.post(f"/admin/batches/{batch_id}/cancel", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_a_suspended_workspace_releases_no_more_lines_and_the_operator_can_cancel_its_batch(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 10_000_000
    suspended_ws = await make_workspace(engine, tokens=granted)
    other_ws = await make_workspace(engine, tokens=granted)
    big = await create(client, suspended_ws, "big", 3000)
    later = await create(client, suspended_ws, "later", 200)
    await wait_batch(client, suspended_ws, big, lambda b: b["counts"]["running"] > 0)

    suspended = await client.post(f"/admin/workspaces/{suspended_ws.id}/suspend", headers=ADMIN)
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    at_suspension = {batch_id: await released(engine, batch_id) for batch_id in (big, later)}
    assert 0 < at_suspension[big].jobs < 3000, at_suspension
    # The workspace's own keys are refused (it cannot cancel its batch itself)...
    refused = await client.post(f"/batches/{big}/cancel", headers=suspended_ws.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "workspace_suspended"

    # ...while another workspace's batch, submitted now, runs to its end.
    other = await create(client, other_ws, "other", 40)
    done = await wait_batch(client, other_ws, other, finished, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 40

    # The jobs released before the suspension finish and are billed; no line is released after it.
    deadline = asyncio.get_running_loop().time() + 60
    while (now := await released(engine, big)).queued:
        assert now.jobs == at_suspension[big].jobs, (at_suspension, now)
        assert asyncio.get_running_loop().time() < deadline, now
        await asyncio.sleep(0.2)
    settled = {batch_id: await released(engine, batch_id) for batch_id in (big, later)}
    book = await balances(engine, suspended_ws.id)
    assert book["held"] == 0 and book["spent"] == settled[big].cost + settled[later].cost > 0, (book, settled)
    # Several feeder ticks and a credit recheck later, still nothing more released, held or spent.
    await asyncio.sleep(3)
    for batch_id in (big, later):
        assert settled[batch_id].jobs == at_suspension[batch_id].jobs, (at_suspension, settled)
        assert await released(engine, batch_id) == settled[batch_id]
    assert await balances(engine, suspended_ws.id) == book

    # The operator cancels the suspended workspace's big batch: its unreleased lines are cancelled, uncharged.
    cancelled = await admin_cancel(client, big)
    assert cancelled["status"] in ("cancelling", "cancelled"), cancelled
    deadline = asyncio.get_running_loop().time() + 30
    while (cancelled := await admin_cancel(client, big))["status"] != "cancelled":
        assert asyncio.get_running_loop().time() < deadline, cancelled
        await asyncio.sleep(0.2)
    counts = cancelled["counts"]
    assert isinstance(counts, dict)
    assert counts["completed"] == settled[big].jobs and counts["cancelled"] == 3000 - settled[big].jobs, counts
    assert cancelled["cost_tokens"] == settled[big].cost
    missing = await client.post("/admin/batches/batch_" + "0" * 32 + "/cancel", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

    # Resumed, the workspace's other batch goes on to its end.
    resumed = await client.post(f"/admin/workspaces/{suspended_ws.id}/resume", headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["suspended"] is False
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.get(f"/batches/{later}", headers=suspended_ws.headers)).status_code == 403:
        assert asyncio.get_running_loop().time() < deadline, "the resumed workspace's key is still refused"
        await asyncio.sleep(0.1)
    done = await wait_batch(client, suspended_ws, later, finished, timeout_s=120, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 200

    # Every sum exact: nothing held, spent = the results' costs, the book verifies.
    rows = [row for batch_id in (big, later) for row in await results(client, suspended_ws, batch_id)]
    assert len(rows) == 3200
    assert all(row["cost_tokens"] == 0 for row in rows if row["status"] == "cancelled")
    book = await balances(engine, suspended_ws.id)
    spent = sum(row["cost_tokens"] for row in rows)
    assert book == {"available": granted - spent, "held": 0, "spent": spent, "funding": -granted}
    await assert_books_balance(engine)
    assert await verify.verify_database(engine) == []
