"""Rebalances under load: ledgers join and leave (gracefully and by SIGKILL) while jobs flow; none stalls.

Every ledger process shares the session's app id, so each join or leave rebalances the partitions of
jobs.submitted and jobs.usage between them while jobs are being admitted and settled.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.processes import Service
from tests.test_ledger_exactly_once_e2e import PROMPT, assert_each_job_billed_once

# A job submitted under a rebalance (including a SIGKILLed member's session timeout of 10 s) still finishes
# within this; a stall (a revocation waiting forever) would not.
FINISH_BOUND_S = 45
JOB_BOUND_S = 40


async def finished_count(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT status, count(*) FROM jobs WHERE workspace_id = :ws GROUP BY status"), {"ws": workspace_id}
            )
        ).all()
    return {row[0]: row[1] for row in rows}


async def test_ledgers_joining_and_leaving_under_load_stall_nothing_and_bill_each_job_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=10_000_000)
    headers = {**workspace.headers, "Prefer": "respond-async"}
    submitted_at: dict[str, float] = {}
    stop = asyncio.Event()

    async def load() -> None:
        n = 0
        while not stop.is_set():
            body = {**PROMPT, "messages": [{"role": "user", "content": f"[fake latency_ms={50 + n % 7 * 40}] {n}"}]}
            responses = await asyncio.gather(
                *(client.post("/chat/completions", json=body, headers=headers) for _ in range(4))
            )
            for response in responses:
                assert response.status_code == 202, response.text
                submitted_at[response.json()["id"]] = time.time()
            n += 1
            await asyncio.sleep(0.05)

    extra = [Service(f"ledger-{name}", ["ledger"], stack.ledger.env, stack.ledger.workdir) for name in ("b", "c")]
    loading = asyncio.create_task(load())
    try:
        await asyncio.sleep(1)
        await asyncio.to_thread(extra[0].start)  # two ledgers
        await asyncio.sleep(2)
        await asyncio.to_thread(extra[1].start)  # three ledgers
        await asyncio.sleep(2)
        await asyncio.to_thread(extra[0].stop)  # one leaves gracefully (SIGTERM)
        await asyncio.sleep(2)
        await asyncio.to_thread(extra[1].kill)  # one dies (SIGKILL): its partitions wait out its session
        await asyncio.sleep(2)
        await asyncio.to_thread(extra[0].start)  # and one joins again
        await asyncio.sleep(2)
    finally:
        stop.set()
        await loading
    total = len(submitted_at)
    assert total > 100

    deadline = time.monotonic() + FINISH_BOUND_S
    counts = await finished_count(engine, workspace.id)
    while counts.get("completed", 0) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        counts = await finished_count(engine, workspace.id)
    try:
        assert counts.get("completed", 0) == total, (
            f"{counts} of {total} after {FINISH_BOUND_S}s\n{stack.ledger.log_tail()}\n{extra[0].log_tail()}"
        )
        await assert_each_job_billed_once(engine, workspace.id, total, 10_000_000)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, extract(epoch FROM finished_at) AS at FROM jobs WHERE workspace_id = :ws"),
                    {"ws": workspace.id},
                )
            ).all()
        latencies_s = sorted(float(row.at) - submitted_at[row.id] for row in rows)
        # Each job, wherever its partition was moved meanwhile, finished within the bound.
        p50_s, max_s = latencies_s[len(latencies_s) // 2], latencies_s[-1]
        print(f"rebalance under load: {total} jobs, submit-to-settled p50 {p50_s:.2f} s, max {max_s:.2f} s")
        assert latencies_s[-1] < JOB_BOUND_S, f"slowest jobs took {latencies_s[-5:]} s"
    finally:
        for service in extra:
            service.stop()
