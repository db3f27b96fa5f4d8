"""Finance on the running stack: auto top-ups and alerts fired by live settlement (once per crossing, however
many completions race across), published on `finance.events`; top-ups, settings and the operator's money
actions over HTTP through the ledger's command topic; bad input refused with nothing in the journal moved."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ingress.key_policy import KeyPower
from ingress.keys import mint
from schemas import topics
from schemas.finance import FINANCE_EVENTS
from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.kafka_probe import read_all
from tests.webhook_receiver import Receiver

HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _complete(client: httpx.AsyncClient, workspace: Workspace, n: int) -> list[int]:
    answers = await asyncio.gather(
        *(client.post("/chat/completions", json=HELLO, headers=workspace.headers) for _ in range(n))
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    return [int(a.json()["cost"]) for a in answers]


async def _eventually(probe: Any, timeout_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await probe()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _journal_size(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM journal_transactions"))).scalar_one())


async def test_concurrent_completions_fire_one_topup_and_one_alert_per_crossing(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    cost = (await _complete(client, workspace, 1))[0]
    start = int((await client.get("/balance", headers=workspace.headers)).json()["balance_tokens"])
    # The alert is crossed after ~5 calls, the auto top-up's threshold after ~30; the top-up (~20 calls' worth)
    # lifts the balance back over its threshold but not over the alert's, so the alert stays disarmed.
    alert_at = start - 5 * cost + cost // 2
    topup_at = start - 30 * cost + cost // 2
    amount_paisa = -(-20 * cost // 5)  # 1 BDT = 500 tokens: 5 tokens a paisa
    topup_tokens = amount_paisa * 5
    assert topup_tokens < alert_at - topup_at

    set_auto = await client.put(
        "/billing/auto-topup",
        json={"threshold_tokens": topup_at, "amount_paisa": amount_paisa, "method": "invoice"},
        headers=workspace.headers,
    )
    assert set_auto.status_code == 200, set_auto.text
    alert = await client.post(
        "/billing/alert-thresholds", json={"kind": "absolute", "threshold_tokens": alert_at}, headers=workspace.headers
    )
    assert alert.status_code == 201, alert.text

    spent = sum(await _complete(client, workspace, 40))
    balance = (await client.get("/balance", headers=workspace.headers)).json()
    assert balance["balance_tokens"] == start - spent + topup_tokens
    assert balance["auto_topup"]["armed"] is True  # re-armed: the top-up lifted the balance over its threshold
    assert [(t["threshold_tokens"], t["armed"]) for t in balance["alert_thresholds"]] == [(alert_at, False)]

    # Re-armed means it fires again on the next crossing, and only then.
    spent += sum(await _complete(client, workspace, 20))
    topups = (await client.get("/topups", headers=workspace.headers)).json()["data"]
    assert [(t["origin"], t["status"], t["tokens"], t["method"]) for t in topups] == [
        ("auto", "succeeded", topup_tokens, "invoice")
    ] * 2
    balance = (await client.get("/balance", headers=workspace.headers)).json()
    assert balance["balance_tokens"] == start - spent + 2 * topup_tokens

    history = (await client.get("/alerts", headers=workspace.headers)).json()["data"]
    crossed = sorted(e["payload"]["kind"] for e in history if e["type"] == "balance.threshold_crossed")
    assert crossed == ["absolute", "auto_topup", "auto_topup"]
    assert sum(e["type"] == "topup.succeeded" for e in history) == 2

    # The ledger's finance tick publishes the outbox to `finance.events`, keyed by workspace.
    topic = topics.prefixed(stack.topic_prefix, FINANCE_EVENTS)

    async def published() -> list[dict[str, Any]]:
        values = await read_all(stack.kafka, topic, key=topics.ledger_key(workspace.id))
        return [json.loads(v) for v in values] if len(values) >= len(history) else []

    events = await _eventually(published)
    assert sorted(e["type"] for e in events) == sorted(e["type"] for e in history)

    # Paying the invoices funds the receivables (verify, run after this test, checks one funding entry each).
    for topup in topups:
        paid = await client.post(f"/admin/workspaces/{workspace.id}/invoices/{topup['invoice_id']}/paid", headers=ADMIN)
        assert paid.status_code == 200 and paid.json()["paid"] is True, paid.text
        again = await client.post(
            f"/admin/workspaces/{workspace.id}/invoices/{topup['invoice_id']}/paid", headers=ADMIN
        )
        assert again.json()["paid"] is False


async def test_topups_over_http_are_idempotent_and_card_declines_are_reported(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    headers = workspace.headers | {"Idempotency-Key": "buy-1"}
    first = await client.post("/topups", json={"amount_bdt": "12.50", "method": "card"}, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["tokens"], body["amount_paisa"], body["replayed"]) == ("succeeded", 6250, 1250, False)
    again = await client.post("/topups", json={"amount_bdt": "12.50", "method": "card"}, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["replayed"] is True
    other = await client.post("/topups", json={"amount_paisa": 999, "method": "card"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"

    declined = await client.post("/topups", json={"amount_paisa": 102, "method": "card"}, headers=workspace.headers)
    assert declined.status_code == 201 and declined.json()["status"] == "failed", declined.text
    assert declined.json()["failure_reason"]
    balance = (await client.get("/balance", headers=workspace.headers)).json()
    assert balance["balance_tokens"] == 6250  # credited once, the decline credited nothing

    invoiced = await client.post("/topups", json={"amount_paisa": 200}, headers=workspace.headers)
    assert invoiced.status_code == 201 and invoiced.json()["method"] == "invoice"
    listed = (await client.get("/topups", headers=workspace.headers)).json()["data"]
    assert len(listed) == 3 and listed[0]["invoice_status"] == "open"


async def test_admin_money_actions_over_http(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    cost = (await _complete(client, workspace, 1))[0]
    job_id = (await client.get("/ledger/entries", params={"kind": "debit"}, headers=workspace.headers)).json()["data"][
        0
    ]["job_id"]
    refund = await client.post(
        f"/admin/workspaces/{workspace.id}/refunds", json={"job_id": job_id, "reason": "bad answer"}, headers=ADMIN
    )
    assert refund.status_code == 201 and refund.json()["tokens"] == cost, refund.text
    adjust = await client.post(
        f"/admin/workspaces/{workspace.id}/adjustments",
        json={"tokens": -500, "reason": "correction"},
        headers=ADMIN | {"Idempotency-Key": "adj-1"},
    )
    assert adjust.status_code == 201 and adjust.json()["balance_tokens"] == 9_500, adjust.text
    rate = await client.post(
        f"/admin/workspaces/{workspace.id}/rates", json={"tokens_per_bdt": "600", "reason": "deal"}, headers=ADMIN
    )
    assert rate.status_code == 201, rate.text
    bought = await client.post("/topups", json={"amount_paisa": 100, "method": "card"}, headers=workspace.headers)
    assert bought.json()["tokens"] == 600
    statement = (await client.get("/ledger/statement", headers=workspace.headers)).json()
    assert statement["refunds_tokens"] == cost and statement["closing_balance_tokens"] == 10_100
    # A workspace key is not the operator.
    denied = await client.post(
        f"/admin/workspaces/{workspace.id}/adjustments",
        json={"tokens": 500, "reason": "free money"},
        headers=workspace.headers,
    )
    assert denied.status_code in (401, 403)


BAD_TOPUPS: list[Any] = [
    {"amount_paisa": 0},
    {"amount_paisa": -100},
    {"amount_paisa": 1.5},
    {"amount_paisa": "100"},
    {"amount_paisa": True},
    {"amount_paisa": 10**30},
    {"amount_bdt": "1.234"},
    {"amount_bdt": "-5"},
    {"amount_bdt": "1e3"},
    {"amount_bdt": "12\u0000"},
    {"amount_bdt": "9" * 200},
    {"amount_paisa": 100, "amount_bdt": "1"},
    {},
    {"amount_paisa": 100, "method": "bitcoin"},
    {"amount_paisa": 100, "method": "card\u0007"},
    {"amount_paisa": 100, "action": "adjustment"},
    [1, 2],
]


async def test_bad_finance_input_is_refused_and_moves_nothing(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    bystander = await make_workspace(engine, tokens=10_000)
    before = await _journal_size(engine)
    refused: list[httpx.Response] = []
    for body in BAD_TOPUPS:
        refused.append(await client.post("/topups", json=body, headers=workspace.headers))
    refused.append(
        await client.post(
            "/topups", json={"amount_paisa": 100}, headers=workspace.headers | {"Idempotency-Key": "k\u0001"}
        )
    )
    for bad_threshold in (
        {"kind": "absolute", "threshold_tokens": -1},
        {"kind": "percent_of_last_topup", "percent": 0},
        # A measure of the other kind was stored as nothing and echoed back as if set.
        {"kind": "absolute", "threshold_tokens": 5, "percent": 5},
        {"kind": "percent_of_last_topup", "percent": 20, "threshold_tokens": 5},
    ):
        refused.append(await client.post("/billing/alert-thresholds", json=bad_threshold, headers=workspace.headers))
    refused.append(
        await client.put(
            "/billing/auto-topup", json={"threshold_tokens": -5, "amount_paisa": 100}, headers=workspace.headers
        )
    )
    refused.append(
        await client.post(
            f"/admin/workspaces/{workspace.id}/rates",
            json={"tokens_per_bdt": "500", "effective_at": "2001-01-01T00:00:00Z", "reason": "past"},
            headers=ADMIN,
        )
    )
    refused.append(
        await client.post(
            "/admin/prices",
            json={
                "model_id": "openai/gpt-4.1-mini",
                "input_multiplier": "1",
                "output_multiplier": "1",
                "effective_at": "2001-01-01T00:00:00Z",
            },
            headers=ADMIN,
        )
    )
    for answer in refused:
        assert answer.status_code == 400, (answer.request.content, answer.text)
        assert set(answer.json()) >= {"error", "status", "code", "request_id"}
    assert await _journal_size(engine) == before
    assert (await client.get("/topups", headers=workspace.headers)).json()["data"] == []
    # The hostile traffic cost nobody else anything.
    assert len(await _complete(client, bystander, 1)) == 1


async def _cross_an_alert(client: httpx.AsyncClient, workspace: Workspace) -> None:
    """Set an alert just under the balance and spend across it: one `balance.threshold_crossed`."""
    balance = int((await client.get("/balance", headers=workspace.headers)).json()["balance_tokens"])
    alert = await client.post(
        "/billing/alert-thresholds",
        json={"kind": "absolute", "threshold_tokens": balance - 1},
        headers=workspace.headers,
    )
    assert alert.status_code == 201, alert.text
    await _complete(client, workspace, 1)


async def test_alerts_are_posted_signed_to_the_webhook_and_retried(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with Receiver(statuses=[500, 503, 200]) as receiver:
        hook = await client.put("/billing/webhook", json={"url": receiver.url}, headers=workspace.headers)
        assert hook.status_code == 200, hook.text
        secret = hook.json()["secret"]
        assert secret.startswith("whsec_")
        await _cross_an_alert(client, workspace)

        async def delivered() -> bool:
            return len(receiver.received) >= 3

        assert await _eventually(delivered)
        await asyncio.sleep(1.5)  # nothing more comes once the receiver took it
    assert len(receiver.received) == 3
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == 1  # the same message, retried
    verified = Webhook(secret).verify(receiver.received[-1].body, receiver.received[-1].headers)
    assert verified["type"] == "balance.threshold_crossed"
    assert verified["data"]["workspace_id"] == workspace.id and verified["data"]["kind"] == "absolute"
    # A wrong secret does not verify: the signature is real.
    try:
        Webhook("whsec_" + "A" * 43 + "=").verify(receiver.received[-1].body, receiver.received[-1].headers)
        raise AssertionError("a signature verified under another secret")
    except WebhookVerificationError:
        pass


async def test_webhook_retries_are_finite_and_a_slow_receiver_never_slows_settlement(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    failing = await make_workspace(engine, tokens=10_000)
    slow = await make_workspace(engine, tokens=10_000)
    async with Receiver(statuses=[500]) as down, Receiver(delay_s=30) as stalled:
        for workspace, receiver in ((failing, down), (slow, stalled)):
            hook = await client.put("/billing/webhook", json={"url": receiver.url}, headers=workspace.headers)
            assert hook.status_code == 200, hook.text
        await _cross_an_alert(client, failing)
        await _cross_an_alert(client, slow)

        async def stalled_once() -> bool:
            return len(stalled.received) >= 1

        assert await _eventually(stalled_once)
        # While the slow receiver holds its delivery open, settlement goes on at its usual pace.
        started = asyncio.get_running_loop().time()
        await _complete(client, slow, 10)
        assert asyncio.get_running_loop().time() - started < 20

        async def gave_up() -> bool:
            async with engine.connect() as conn:
                status = (
                    await conn.execute(
                        text("SELECT state FROM webhook_deliveries WHERE workspace_id = :ws"), {"ws": failing.id}
                    )
                ).scalar_one()
            return status == "dead"  # the schedule is spent: dead-lettered, visible in the delivery log

        assert await _eventually(gave_up)
        await asyncio.sleep(1.5)
    assert len(down.received) == 4  # the first attempt and three retries, then no more


async def test_a_price_published_for_later_leaves_jobs_admitted_before_it_alone(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """test/repriced (only this test uses it) costs 1x; a 7x version is published effective in 3 s. A job admitted
    before and answered after that time pays 1x; a job admitted after pays 7x; each records its version."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    slow_body = {
        "model": "test/repriced",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "[fake latency_ms=6000] hello"}],
    }
    accepted = await client.post(
        "/chat/completions", json=slow_body, headers=workspace.headers | {"Prefer": "respond-async"}
    )
    assert accepted.status_code == 202, accepted.text
    before_id = accepted.json()["id"]

    async def held() -> bool:
        async with engine.connect() as conn:
            status = (
                await conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": before_id})
            ).scalar_one_or_none()
        return status == "queued"

    assert await _eventually(held)
    effective_at = datetime.now(UTC) + timedelta(seconds=3)
    published = await client.post(
        "/admin/prices",
        json={
            "model_id": "test/repriced",
            "input_multiplier": "7",
            "output_multiplier": "7",
            "effective_at": effective_at.isoformat(),
        },
        headers=ADMIN,
    )
    assert published.status_code == 201, published.text
    new_version = published.json()["price"]["version_id"]
    await asyncio.sleep(max(0.0, (effective_at - datetime.now(UTC)).total_seconds()) + 0.5)
    assert await held(), "the first job must still be in flight when the new price takes effect"
    after = await client.post(
        "/chat/completions",
        json={**slow_body, "messages": [{"role": "user", "content": "hello"}]},
        headers=workspace.headers,
    )
    assert after.status_code == 200, after.text

    async def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/jobs/{before_id}", headers=workspace.headers)).json()
        return body if body.get("status") == "completed" else None

    before = await _eventually(finished)
    assert before, "the job admitted before the new price never completed"
    async with engine.connect() as conn:
        rows = {
            row.id: row
            for row in await conn.execute(
                text("SELECT id, terms, input_tokens, output_tokens, cost_tokens FROM jobs WHERE id = ANY(:ids)"),
                {"ids": [before_id, after.json()["id"]]},
            )
        }
        hold_detail = (
            await conn.execute(
                text("SELECT detail FROM journal_transactions WHERE job_id = :id AND kind = 'hold'"), {"id": before_id}
            )
        ).scalar_one()
    old, new = rows[before_id], rows[after.json()["id"]]
    assert old.cost_tokens == old.input_tokens + old.output_tokens  # 1x, though it settled after the 7x took effect
    assert new.cost_tokens == 7 * (new.input_tokens + new.output_tokens)
    old_version = old.terms["test/repriced"]["price_version_id"]
    assert old_version != new_version and new.terms["test/repriced"]["price_version_id"] == new_version
    assert hold_detail["terms"]["test/repriced"]["price_version_id"] == old_version


async def test_finance_routes_need_the_billing_scope(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    async with engine.begin() as conn:
        _, secret = await mint(conn, workspace.id, "inference only", KeyPower(scopes=frozenset({"inference"})))
    headers = {"Authorization": f"Bearer {secret}"}
    before = await _journal_size(engine)
    for method, path, body in (
        ("POST", "/topups", {"amount_paisa": 100}),
        ("PUT", "/billing/auto-topup", {"threshold_tokens": 10, "amount_paisa": 100}),
        ("POST", "/billing/alert-thresholds", {"kind": "absolute", "threshold_tokens": 10}),
        ("PUT", "/billing/webhook", {"url": "https://example.invalid/hook"}),
        ("GET", "/ledger/entries", None),
        ("GET", "/topups", None),
    ):
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403 and answer.json()["code"] == "insufficient_scope", (path, answer.text)
    assert await _journal_size(engine) == before
    called = await client.post("/chat/completions", json=HELLO, headers=headers)
    assert called.status_code == 200, called.text  # the same key still calls models
