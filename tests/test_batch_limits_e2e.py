"""A rate-limited batch on the real services (Kafka, PostgreSQL, ledger, workers): it waits, it never fails.

The batch's key allows 2 requests a minute and its window is 6 s, all inside one minute: 2 lines run, the other 4
wait (`waiting_for_limit`) and expire uncharged at the window's end. Meanwhile the limited key's own sync request is
refused at the door as before (429), and another workspace's batch and sync request complete.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.batch_client import MODEL, finished, line, results, wait_batch
from tests.conftest import Stack, make_workspace
from tests.test_batch_feeder_e2e import assert_billed_once, create

GRANT = 10_000_000
HELLO = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}


async def test_a_rate_limited_batch_waits_and_its_unreleased_lines_expire_uncharged_while_others_run(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    limited = await make_workspace(engine, tokens=GRANT)
    other = await make_workspace(engine, tokens=GRANT)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET rpm_max = 2 WHERE id = :id"), {"id": limited.key_id})
    # The whole test inside one minute window: start no later than 50 s into a minute.
    now = datetime.now(UTC)
    if now.second > 50:
        await asyncio.sleep(61 - now.second - now.microsecond / 1e6)
    batch = await create(client, limited, [line(f"r{i}") for i in range(6)], completion_window="6s")
    waiting = await wait_batch(
        client, limited, batch["id"], lambda b: b["counts"]["waiting_for_limit"] == 4 and b["counts"]["completed"] == 2
    )
    assert waiting["status"] == "in_progress" and waiting["counts"]["failed"] == 0

    refused = await client.post("/chat/completions", headers=limited.headers, json=HELLO)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limit_exceeded"
    served = await client.post("/chat/completions", headers=other.headers, json=HELLO)
    assert served.status_code == 200, served.text
    others = await create(client, other, [line(f"o{i}") for i in range(5)])
    done_other = await wait_batch(client, other, others["id"], finished, log=stack.ledger.log_tail)
    assert done_other["status"] == "completed" and done_other["counts"]["completed"] == 5

    done = await wait_batch(client, limited, batch["id"], finished, timeout_s=30, log=stack.ledger.log_tail)
    counts = done["counts"]
    assert done["status"] == "expired"
    assert (counts["completed"], counts["expired"], counts["failed"], counts["waiting_for_limit"]) == (2, 4, 0, 0)
    rows = await results(client, limited, batch["id"])
    expired = [row for row in rows if row["status"] == "expired"]
    assert len(expired) == 4
    assert all(row["cost_tokens"] == 0 and row["error"]["code"] in ("batch_expired", "expired") for row in expired)
    await assert_billed_once(engine, limited, GRANT, 2)
    await assert_billed_once(engine, other, GRANT, 6)
