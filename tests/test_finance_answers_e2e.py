"""Finance writes answer what they stored: the auto top-up PUT answers what `GET /api/v1/balance` then shows, and a
replayed refund or adjustment answers as a replayed top-up does (200, `replayed`), having moved the balance once."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance

HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_the_auto_topup_put_answers_the_stored_setting(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"threshold_tokens": 5_000, "amount_bdt": "12.5", "method": "card"}
    put = await client.put("/billing/auto-topup", json=body, headers=workspace.headers)
    assert put.status_code == 200, put.text
    shown = (await client.get("/balance", headers=workspace.headers)).json()["auto_topup"]
    assert put.json() == {"auto_topup": shown}
    assert shown == {
        "threshold_tokens": 5_000,
        "amount_paisa": 1_250,
        "amount_bdt": "12.50",
        "method": "card",
        "enabled": True,
        "armed": True,
        "fired_times": 0,
    }

    # Above the balance the setting is stored disarmed, and the answer says so; paisa in, both units out.
    body = {"threshold_tokens": 20_000, "amount_paisa": 50_000, "enabled": False}
    put = await client.put("/billing/auto-topup", json=body, headers=workspace.headers)
    assert put.status_code == 200, put.text
    shown = (await client.get("/balance", headers=workspace.headers)).json()["auto_topup"]
    assert put.json() == {"auto_topup": shown}
    assert (shown["amount_paisa"], shown["amount_bdt"], shown["method"]) == (50_000, "500.00", "invoice")
    assert (shown["enabled"], shown["armed"]) == (False, False)


async def _balance_tokens(client: httpx.AsyncClient, workspace: Workspace) -> int:
    return int((await client.get("/balance", headers=workspace.headers)).json()["balance_tokens"])


async def _entries(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM journal_transactions WHERE workspace_id = :ws"), {"ws": workspace_id}
        )
        return int(found.scalar_one())


async def test_replayed_refunds_and_adjustments_answer_as_a_replayed_topup_and_move_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
    assert answer.status_code == 200, answer.text
    cost = int(answer.json()["cost"])
    debits = await client.get("/ledger/entries", params={"kind": "debit"}, headers=workspace.headers)
    job_id = debits.json()["data"][0]["job_id"]

    # How a top-up replay signals itself: the yardstick for the corrections below.
    topup = {"amount_paisa": 100, "method": "card"}
    bought = await client.post("/topups", json=topup, headers=workspace.headers | {"Idempotency-Key": "t-1"})
    topup_again = await client.post("/topups", json=topup, headers=workspace.headers | {"Idempotency-Key": "t-1"})
    assert (bought.status_code, topup_again.status_code) == (201, 200)
    replay_header = topup_again.headers.get("idempotent-replayed")
    start = await _balance_tokens(client, workspace)
    assert start == 10_000 - cost + 500

    refunds = f"/admin/workspaces/{workspace.id}/refunds"
    refund = {"job_id": job_id, "reason": "bad answer"}
    first = await client.post(refunds, json=refund, headers=ADMIN)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "entry": f"refund:{job_id}",
        "tokens": cost,
        "balance_tokens": start + cost,
        "replayed": False,
    }
    entries = await _entries(engine, workspace.id)
    again = await client.post(refunds, json=refund, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert again.headers.get("idempotent-replayed") == replay_header
    assert again.json() == first.json() | {"replayed": True}
    assert await _balance_tokens(client, workspace) == start + cost
    assert await _entries(engine, workspace.id) == entries

    adjustments = f"/admin/workspaces/{workspace.id}/adjustments"
    adjustment = {"tokens": -700, "reason": "late fee"}
    key = ADMIN | {"Idempotency-Key": "fee-1"}
    first = await client.post(adjustments, json=adjustment, headers=key)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "entry": f"adjustment:{workspace.id}:fee-1",
        "tokens": -700,
        "balance_tokens": start + cost - 700,
        "replayed": False,
    }
    again = await client.post(adjustments, json=adjustment, headers=key)
    assert again.status_code == 200, again.text
    assert again.headers.get("idempotent-replayed") == replay_header
    assert again.json() == first.json() | {"replayed": True}
    # The same key for another amount is refused, as it is for a top-up, and moves nothing.
    other = await client.post(adjustments, json={"tokens": 700, "reason": "late fee"}, headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict", other.text

    # Replayed after the adjustment moved the balance, the refund still answers what it answered the first time.
    late = await client.post(refunds, json=refund, headers=ADMIN)
    assert late.status_code == 200, late.text
    assert late.json() == {
        "entry": f"refund:{job_id}",
        "tokens": cost,
        "balance_tokens": start + cost,
        "replayed": True,
    }

    # Each moved the balance once: the book holds one refund and one adjustment, and nothing else moved.
    assert await _balance_tokens(client, workspace) == start + cost - 700
    assert await _entries(engine, workspace.id) == entries + 1
    statement = (await client.get("/ledger/statement", headers=workspace.headers)).json()
    assert (statement["refunds_tokens"], statement["adjustments_tokens"]) == (cost, -700)
    assert statement["closing_balance_tokens"] == start + cost - 700
    await assert_books_balance(engine)
