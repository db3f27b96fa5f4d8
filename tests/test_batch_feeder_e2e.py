"""Running batches on the real services: credit held job by job, waiting for credit and a top-up, the completion
window, cancel, fairness between workspaces, kills of workers and of the ledger mid-batch, and a 10k batch."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import journal
from tests.batch_client import MODEL, finished, jsonl, line, results, upload, wait_batch
from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

SLOW = "Say hi [fake latency_ms=300]"


async def create(client: httpx.AsyncClient, workspace: Workspace, lines: list[Any], **params: Any) -> dict[str, Any]:
    created = await upload(client, workspace, jsonl(lines), **params)
    assert created.status_code == 201, created.text
    batch: dict[str, Any] = created.json()
    return batch


async def billing(engine: AsyncEngine, workspace_id: str) -> dict[str, int]:
    """Journal entries by kind, and the sums of cost and of usage of the workspace's jobs."""
    async with engine.connect() as conn:
        kinds = (
            await conn.execute(
                text("SELECT kind, count(*) FROM journal_transactions WHERE workspace_id = :ws GROUP BY kind"),
                {"ws": workspace_id},
            )
        ).all()
        sums = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(cost_tokens), 0), coalesce(sum(input_tokens + output_tokens), 0), "
                    "count(*) FILTER (WHERE status = 'completed') FROM jobs WHERE workspace_id = :ws"
                ),
                {"ws": workspace_id},
            )
        ).one()
    return {**{row[0]: row[1] for row in kinds}, "cost": sums[0], "usage": sums[1], "completed_jobs": sums[2]}


async def assert_billed_once(engine: AsyncEngine, workspace: Workspace, granted: int, completed: int) -> None:
    book = await billing(engine, workspace.id)
    assert book["completed_jobs"] == completed
    assert book.get("debit", 0) == completed, book
    assert book["cost"] == book["usage"]
    assert await balances(engine, workspace.id) == {
        "available": granted - book["cost"],
        "held": 0,
        "spent": book["cost"],
        "funding": -granted,
    }
    await assert_books_balance(engine)


async def test_cancel_mid_batch_cancels_unreleased_lines_and_bills_only_what_ran(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 10_000_000
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"c{i}", SLOW) for i in range(2000)])
    cancelled = await client.post(f"/batches/{batch['id']}/cancel", headers=workspace.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] in ("cancelling", "cancelled")
    done = await wait_batch(client, workspace, batch["id"], finished, log=stack.ledger.log_tail)
    counts = done["counts"]
    assert done["status"] == "cancelled"
    assert counts["cancelled"] > 0 and counts["running"] == counts["queued"] == 0
    assert counts["completed"] + counts["cancelled"] == 2000
    rows = await results(client, workspace, batch["id"])
    assert len(rows) == 2000
    unrun = [row for row in rows if row["status"] == "cancelled"]
    assert len(unrun) == counts["cancelled"]
    assert all(row["cost_tokens"] == 0 and row["error"]["code"] == "batch_cancelled" for row in unrun)
    await assert_billed_once(engine, workspace, granted, counts["completed"])


# A native result line's fields, as the README documents them: the same for a line that ran and one that never did.
RESULT_FIELDS = {
    *("custom_id", "line", "job_id", "status", "model"),
    *("answer", "finish_reason", "usage", "cost_tokens", "error"),
}


async def test_a_result_line_has_the_same_fields_whether_its_line_ran_or_not(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    funded = await make_workspace(engine, tokens=100_000)
    ran = await create(client, funded, [line("r0"), line("r1")])
    await wait_batch(client, funded, ran["id"], finished, log=stack.ledger.log_tail)
    # No credit: the lines wait, and the cancel ends them unrun.
    broke = await make_workspace(engine, tokens=0)
    unrun = await create(client, broke, [line("u0"), line("u1")])
    assert (await client.post(f"/batches/{unrun['id']}/cancel", headers=broke.headers)).status_code == 200
    await wait_batch(client, broke, unrun["id"], finished, log=stack.ledger.log_tail)
    lines = await results(client, funded, ran["id"]) + await results(client, broke, unrun["id"])
    assert [row["status"] for row in lines] == ["completed", "completed", "cancelled", "cancelled"]
    assert [set(row) for row in lines] == [RESULT_FIELDS] * 4
    assert lines[2]["finish_reason"] is None and lines[2]["error"]["code"] == "batch_cancelled"


async def test_credit_runs_out_the_rest_waits_and_a_top_up_lets_it_finish(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 300
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"k{i}", max_tokens=16) for i in range(60)])
    waiting = await wait_batch(
        client, workspace, batch["id"], lambda b: b["counts"]["waiting_for_credit"] > 0 and b["counts"]["running"] == 0
    )
    assert waiting["status"] == "in_progress" and 0 < waiting["counts"]["completed"] < 60
    assert (await balances(engine, workspace.id))["available"] >= 0
    async with engine.begin() as conn:
        await journal.grant(conn, workspace.id, 100_000, idempotency_key=f"grant:topup:{workspace.id}")
    done = await wait_batch(client, workspace, batch["id"], finished, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 60
    await assert_billed_once(engine, workspace, granted + 100_000, 60)


async def test_a_batch_uploaded_without_credit_says_it_waits_from_its_first_read_and_a_top_up_lets_it_finish(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    created = await create(client, workspace, [line(f"n{i}") for i in range(6)])
    assert (created["status"], created["counts"]["queued"], created["counts"]["waiting_for_credit"]) == (
        "in_progress",
        0,
        6,
    )
    first = (await client.get(f"/batches/{created['id']}", headers=workspace.headers)).json()
    assert (first["counts"]["queued"], first["counts"]["waiting_for_credit"]) == (0, 6)
    # The ledger's feeder tries it and records the hold it waits for; a batch uploaded then waits with it.
    await wait_feed_waits(engine, created["id"])
    later = await create(client, workspace, [line(f"m{i}") for i in range(3)])
    assert (later["counts"]["queued"], later["counts"]["waiting_for_credit"]) == (0, 3)
    listed = (await client.get("/batches", headers=workspace.headers)).json()["data"]
    assert [(b["id"], b["counts"]["waiting_for_credit"]) for b in listed] == [(later["id"], 3), (created["id"], 6)]
    # The OpenAI surface has no waiting state: the batch is `in_progress` there, nothing completed.
    openai = (await client.get(f"/openai/batches/{created['id']}", headers=workspace.headers)).json()
    assert (openai["status"], openai["request_counts"]["completed"]) == ("in_progress", 0)

    async with engine.begin() as conn:
        await journal.grant(conn, workspace.id, 100_000, idempotency_key=f"grant:topup:{workspace.id}")
    for batch_id, lines in ((created["id"], 6), (later["id"], 3)):
        done = await wait_batch(client, workspace, batch_id, finished, log=stack.ledger.log_tail)
        assert done["status"] == "completed" and done["counts"]["completed"] == lines
    await assert_billed_once(engine, workspace, 100_000, 9)


async def wait_feed_waits(engine: AsyncEngine, batch_id: str, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with engine.connect() as conn:
            needed = (
                await conn.execute(
                    text("SELECT credit_needed_tokens FROM batch_feeds WHERE batch_id = :b"), {"b": batch_id}
                )
            ).scalar_one_or_none()
        if needed is not None:
            return
        assert asyncio.get_running_loop().time() < deadline, f"the feeder never recorded {batch_id}'s credit wait"
        await asyncio.sleep(0.1)


async def test_lines_still_waiting_at_the_window_end_expire_uncharged(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 200
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"w{i}", max_tokens=16) for i in range(40)], completion_window="4s")
    done = await wait_batch(client, workspace, batch["id"], finished, timeout_s=60, log=stack.ledger.log_tail)
    counts = done["counts"]
    assert done["status"] == "expired"
    assert counts["expired"] > 0 and counts["completed"] > 0 and counts["completed"] + counts["expired"] == 40
    rows = await results(client, workspace, batch["id"])
    expired = [row for row in rows if row["status"] == "expired"]
    assert all(row["cost_tokens"] == 0 and row["error"]["code"] in ("batch_expired", "expired") for row in expired)
    await assert_billed_once(engine, workspace, granted, counts["completed"])


async def test_a_small_batch_is_not_starved_by_another_workspaces_big_one(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    big_total = 4000
    big_ws = await make_workspace(engine, tokens=100_000_000)
    small_ws = await make_workspace(engine, tokens=1_000_000)
    big = await create(client, big_ws, [line(f"b{i}") for i in range(big_total)])
    await wait_batch(client, big_ws, big["id"], lambda b: b["counts"]["running"] > 0)
    small = await create(client, small_ws, [line(f"s{i}") for i in range(30)])
    await wait_batch(client, small_ws, small["id"], finished, log=stack.ledger.log_tail)
    big_now = (await client.get(f"/batches/{big['id']}", headers=big_ws.headers)).json()
    # The small batch finished while most of the big one, submitted first, had still not run.
    assert big_now["counts"]["completed"] < big_total / 2, big_now["counts"]
    await wait_batch(client, big_ws, big["id"], finished, timeout_s=300, log=stack.ledger.log_tail)


async def test_no_overdraft_when_a_batch_races_sync_requests_for_the_last_credit(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 1500
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"r{i}", max_tokens=16) for i in range(300)], completion_window="6s")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "race"}], "max_tokens": 16}
    answers = await asyncio.gather(
        *(client.post("/chat/completions", headers=workspace.headers, json=body) for _ in range(60))
    )
    assert {a.status_code for a in answers} <= {200, 403}
    await wait_batch(client, workspace, batch["id"], finished, timeout_s=60)
    book = await balances(engine, workspace.id)
    assert book["available"] >= 0 and book["held"] == 0 and book["spent"] <= granted
    await assert_books_balance(engine)


async def test_killing_the_workers_mid_batch_ends_every_job_once_billed_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 10_000_000
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"k{i}", SLOW) for i in range(600)])
    await wait_batch(client, workspace, batch["id"], lambda b: b["counts"]["completed"] >= 50)
    stack.workers.kill()
    stack.workers.start()
    done = await wait_batch(client, workspace, batch["id"], finished, timeout_s=240, log=stack.workers.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 600
    rows = await results(client, workspace, batch["id"])
    assert sorted(row["custom_id"] for row in rows) == sorted(f"k{i}" for i in range(600))
    await assert_billed_once(engine, workspace, granted, 600)


async def test_killing_the_ledger_mid_batch_keeps_every_sum_exact(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 10_000_000
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"l{i}", SLOW) for i in range(1500)])
    await wait_batch(client, workspace, batch["id"], lambda b: b["counts"]["completed"] >= 100)
    stack.ledger.kill()
    stack.ledger.start()
    done = await wait_batch(client, workspace, batch["id"], finished, timeout_s=300, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 1500
    await assert_billed_once(engine, workspace, granted, 1500)


async def test_a_10k_job_batch_completes_on_the_real_services(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    granted = 100_000_000
    workspace = await make_workspace(engine, tokens=granted)
    batch = await create(client, workspace, [line(f"t{i}", f"question {i}") for i in range(10_000)])
    assert batch["counts"]["total"] == 10_000
    done = await wait_batch(client, workspace, batch["id"], finished, timeout_s=600, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == 10_000
    rows = await results(client, workspace, batch["id"])
    assert len(rows) == 10_000 and len({row["custom_id"] for row in rows}) == 10_000
    assert all(row["status"] == "completed" for row in rows)
    await assert_billed_once(engine, workspace, granted, 10_000)
