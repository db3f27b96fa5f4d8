"""Webhooks end to end: endpoints over the API, job and finance events signed per Standard Webhooks (verified with
the public `standardwebhooks` package), retries, rotation, redelivery, dead letters, per-request webhooks,
hostile receivers and a dispatcher killed mid-delivery, on the real services and real HTTP receivers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ledger.dispatcher import new_http_client
from ledger.webhook_delivery import WebhookPolicy
from ledger.webhook_events import WebhookEvent, record_webhook_events
from tests.conftest import Stack, Workspace, make_workspace
from tests.dispatcher_runs import running_dispatcher
from tests.webhook_receiver import Answer, Received, ScriptedReceiver

HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
FAILING = {"model": "test/refused", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


async def _eventually(probe: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await probe()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def _endpoint(
    client: httpx.AsyncClient, workspace: Workspace, url: str, types: list[str], **extra: Any
) -> dict[str, Any]:
    created = await client.post(
        "/webhooks", json={"url": url, "event_types": types, **extra}, headers=workspace.headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["secret"].startswith("whsec_")
    return body


async def _ledger_balance(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT sum(balance) FROM ledger_accounts WHERE workspace_id = :ws AND kind IN ('available', 'held')"),
            {"ws": workspace_id},
        )
        return int(found.scalar_one())


def _verified(secret: str, received: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def _refuses(secret: str, received: Received) -> bool:
    try:
        Webhook(secret).verify(received.body, received.headers)
    except WebhookVerificationError:
        return True
    return False


async def _deliveries(client: httpx.AsyncClient, workspace: Workspace, endpoint_id: str) -> list[dict[str, Any]]:
    page = await client.get(f"/webhooks/{endpoint_id}/deliveries", params={"limit": 100}, headers=workspace.headers)
    assert page.status_code == 200, page.text
    data: list[dict[str, Any]] = page.json()["data"]
    return data


async def _another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=10_000)
    answer = await client.post("/chat/completions", json=HELLO, headers=other.headers)
    assert answer.status_code == 200, answer.text


async def test_a_sync_job_is_delivered_signed_with_the_ledgers_balance(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with ScriptedReceiver() as receiver:
        hook = await _endpoint(client, workspace, receiver.url, ["job.completed", "job.failed"], description="ci")
        answer = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
        assert answer.status_code == 200, answer.text
        failed = await client.post("/chat/completions", json=FAILING, headers=workspace.headers)
        assert failed.status_code >= 500, failed.text

        async def both() -> bool:
            return len(receiver.answered) >= 2

        assert await _eventually(both)
    events = {payload["type"]: payload for payload in (_verified(hook["secret"], r) for r in receiver.received)}
    completed = events["job.completed"]["data"]
    assert completed["job_id"] == answer.json()["id"]
    assert completed["balance_left"] == answer.json()["balance_left"]
    assert completed["balance_left"] == await _ledger_balance(engine, workspace.id)
    assert completed["cost_tokens"] == answer.json()["cost"] and completed["answer"] == answer.json()["answer"]
    assert events["job.failed"]["data"]["status"] == "failed" and events["job.failed"]["data"]["cost_tokens"] == 0
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {f"evt_{completed['job_id']}", f"evt_{events['job.failed']['data']['job_id']}"}
    # The endpoint as the API shows it: no secret; the log has each delivery with its attempt.
    shown = await client.get(f"/webhooks/{hook['id']}", headers=workspace.headers)
    assert shown.status_code == 200 and shown.json()["secret"] is None and shown.json()["description"] == "ci"
    log = await _deliveries(client, workspace, hook["id"])
    assert {d["state"] for d in log} == {"delivered"} and len(log) == 2
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200 for d in log)


async def test_a_per_request_webhook_answers_202_and_gets_its_job(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with ScriptedReceiver() as receiver:
        # Subscribed to no job events: only the per-request webhook sends this job's event there.
        hook = await _endpoint(client, workspace, receiver.url, ["topup.succeeded"])
        started = time.monotonic()
        by_url = await client.post(
            "/chat/completions", json=HELLO | {"webhook": receiver.url}, headers=workspace.headers
        )
        assert by_url.status_code == 202, by_url.text
        assert time.monotonic() - started < 5
        by_id = await client.post("/chat/completions", json=HELLO | {"webhook": hook["id"]}, headers=workspace.headers)
        assert by_id.status_code == 202, by_id.text
        plain = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
        assert plain.status_code == 200

        async def two() -> bool:
            return len(receiver.answered) >= 2

        assert await _eventually(two)
        await asyncio.sleep(1.0)  # and nothing for the job without a webhook
    payloads = [_verified(hook["secret"], r) for r in receiver.received]
    assert sorted(p["data"]["job_id"] for p in payloads) == sorted([by_url.json()["id"], by_id.json()["id"]])
    assert {p["type"] for p in payloads} == {"job.completed"}
    async with engine.connect() as conn:
        balances = dict(
            (
                await conn.execute(
                    text("SELECT id, balance_left FROM jobs WHERE id = ANY(:ids)"),
                    {"ids": [p["data"]["job_id"] for p in payloads]},
                )
            ).all()
        )
    for payload in payloads:
        assert payload["data"]["balance_left"] == balances[payload["data"]["job_id"]]


@pytest.mark.parametrize(
    "webhook",
    ["https://not-registered.example/hook", "we_0123456789abcdef01234567", "http://127.0.0.1:9/x\x00", "x" * 2049],
)
async def test_a_webhook_that_is_not_a_registered_endpoint_is_a_400(
    client: httpx.AsyncClient, engine: AsyncEngine, webhook: str
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = await client.post("/chat/completions", json=HELLO | {"webhook": webhook}, headers=workspace.headers)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "invalid_request" and body["status"] == 400 and "webhook" in body["error"]
    assert body["request_id"]
    await _another_workspace_completes(client, engine)


async def test_another_workspaces_endpoint_cannot_be_named(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, other = await make_workspace(engine, tokens=10_000), await make_workspace(engine, tokens=10_000)
    hook = await _endpoint(client, owner, "http://127.0.0.1:9/hook", ["job.completed"])
    for reference in (hook["id"], hook["url"]):
        answer = await client.post("/chat/completions", json=HELLO | {"webhook": reference}, headers=other.headers)
        assert answer.status_code == 400, answer.text
    assert (await client.get(f"/webhooks/{hook['id']}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"/webhooks/{hook['id']}", headers=other.headers)).status_code == 404


async def test_a_receiver_that_fails_then_recovers_gets_every_event_exactly_once_after_dedupe(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    async with ScriptedReceiver(script=lambda n: Answer(status=503 if n < 6 else 200)) as receiver:
        hook = await _endpoint(client, workspace, receiver.url, ["job.completed"])
        answers = await asyncio.gather(
            *(client.post("/chat/completions", json=HELLO, headers=workspace.headers) for _ in range(10))
        )
        assert all(a.status_code == 200 for a in answers)
        expected = {f"evt_{a.json()['id']}" for a in answers}

        async def all_taken() -> bool:
            return set(receiver.answered) >= expected

        assert await _eventually(all_taken)
    assert set(receiver.answered) == expected  # after dedupe on webhook-id: every event, once
    assert len(receiver.received) >= 16  # six refusals were retried
    for received in receiver.received:
        _verified(hook["secret"], received)
    log = await _deliveries(client, workspace, hook["id"])
    assert len(log) == 10 and {d["state"] for d in log} == {"delivered"}
    retried = [d for d in log if len(d["attempts"]) > 1]
    assert retried and all(d["attempts"][0]["status_code"] == 503 for d in retried)
    assert all(a["latency_ms"] >= 0 for d in log for a in d["attempts"])


async def test_secret_rotation_signs_with_both_secrets_during_the_overlap(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with ScriptedReceiver() as receiver:
        hook = await _endpoint(client, workspace, receiver.url, ["job.completed"])
        rotated = await client.post(
            f"/webhooks/{hook['id']}/rotate-secret", json={"grace_s": 600}, headers=workspace.headers
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != hook["secret"] and rotated.json()["previous_secret_until"] is not None
        assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200

        async def one() -> bool:
            return len(receiver.answered) >= 1

        assert await _eventually(one)
        overlap = receiver.received[-1]
        assert len(overlap.headers["webhook-signature"].split(" ")) == 2
        assert _verified(hook["secret"], overlap)["type"] == "job.completed"
        assert _verified(new_secret, overlap)["type"] == "job.completed"
        # Rotating again without grace: only the newest secret signs.
        again = await client.post(
            f"/webhooks/{hook['id']}/rotate-secret", json={"grace_s": 0}, headers=workspace.headers
        )
        newest = again.json()["secret"]
        assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200

        async def two() -> bool:
            return len(receiver.answered) >= 2

        assert await _eventually(two)
    last = receiver.received[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    assert _verified(newest, last)["type"] == "job.completed"
    assert _refuses(new_secret, last) and _refuses(hook["secret"], last)


async def test_a_delivery_is_dead_after_the_schedule_and_can_be_redelivered(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    recovered = False
    async with ScriptedReceiver(script=lambda n: Answer(status=200 if recovered else 500)) as receiver:
        hook = await _endpoint(client, workspace, receiver.url, ["job.completed"])
        answer = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
        assert answer.status_code == 200

        async def dead() -> list[dict[str, Any]]:
            log = await _deliveries(client, workspace, hook["id"])
            return [d for d in log if d["state"] == "dead"]

        found = await _eventually(dead)
        assert found, await _deliveries(client, workspace, hook["id"])
        delivery = found[0]
        # The test schedule is three retries: four attempts, each logged with its status, then dead.
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 500]
        assert delivery["next_attempt_at"] is None and delivery["last_error"] == "HTTP 500"
        await asyncio.sleep(1.0)
        assert len(receiver.received) == 4
        recovered = True
        again = await client.post(f"/webhooks/deliveries/{delivery['id']}/redeliver", headers=workspace.headers)
        assert again.status_code == 202, again.text
        assert again.json()["state"] == "pending"

        async def delivered() -> bool:
            log = await _deliveries(client, workspace, hook["id"])
            return log[0]["state"] == "delivered"

        assert await _eventually(delivered)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same message, redelivered
    assert receiver.answered == [f"evt_{answer.json()['id']}"]
    missing = await client.post("/webhooks/deliveries/999999999/redeliver", headers=workspace.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_dispatcher_killed_mid_delivery_loses_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    # The first POST is held open until the dispatcher is gone; everything after is taken at once.
    async with ScriptedReceiver(script=lambda n: Answer(delay_s=1.5 if n == 0 else 0)) as receiver:
        await _endpoint(client, workspace, receiver.url, ["job.completed"])
        answers = await asyncio.gather(
            *(client.post("/chat/completions", json=HELLO, headers=workspace.headers) for _ in range(5))
        )
        assert all(a.status_code == 200 for a in answers)
        expected = {f"evt_{a.json()['id']}" for a in answers}

        async def in_flight() -> bool:
            return len(receiver.received) >= 1

        assert await _eventually(in_flight)
        held_id = receiver.received[0].headers["webhook-id"]
        stack.dispatcher.kill()
        stack.dispatcher.start()

        async def all_delivered() -> dict[str, int]:
            async with engine.connect() as conn:
                states = (
                    await conn.execute(
                        text("SELECT state, count(*) FROM webhook_deliveries WHERE workspace_id = :ws GROUP BY state"),
                        {"ws": workspace.id},
                    )
                ).all()
            return dict(states) if dict(states) == {"delivered": 5} else {}

        # The killed attempts' leases run out (the 2 s deadline + 5 s) and the new dispatcher sends them again.
        assert await _eventually(all_delivered, timeout_s=60)
    assert set(receiver.answered) >= expected
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert set(ids) == expected
    assert ids.count(held_id) >= 2  # the attempt cut short by the kill was made again, under the same id


async def test_finance_alerts_travel_the_same_system_and_the_billing_endpoint_is_listed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with ScriptedReceiver() as receiver:
        put = await client.put("/billing/webhook", json={"url": receiver.url}, headers=workspace.headers)
        assert put.status_code == 200, put.text
        listed = await client.get("/webhooks", headers=workspace.headers)
        assert listed.status_code == 200
        (billing,) = listed.json()["data"]
        assert billing["billing"] and billing["id"] == put.json()["id"]
        assert set(billing["event_types"]) == {"topup.succeeded", "topup.failed", "balance.threshold_crossed"}
        topup = await client.post("/topups", json={"amount_bdt": "1"}, headers=workspace.headers)
        assert topup.status_code == 201, topup.text

        async def one() -> bool:
            return len(receiver.answered) >= 1

        assert await _eventually(one)
    payload = _verified(put.json()["secret"], receiver.received[0])
    assert payload["type"] == "topup.succeeded" and payload["data"]["topup_id"] == topup.json()["id"]


async def test_endpoint_management_and_bad_input(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    hook = await _endpoint(client, workspace, "https://hooks.example.com/luntrex", ["job.completed"])
    patched = await client.patch(
        f"/webhooks/{hook['id']}",
        json={"event_types": ["job.failed", "batch.completed"], "enabled": False},
        headers=workspace.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["batch.completed", "job.failed"] and not patched.json()["enabled"]
    bad_bodies: list[dict[str, Any]] = [
        {"url": "ftp://hooks.example.com/x", "event_types": ["job.completed"]},
        {"url": "https://hooks.example.com/\x01", "event_types": ["job.completed"]},
        {"url": "https://hooks.example.com/x y", "event_types": ["job.completed"]},
        {"url": "https://" + "a" * 2050 + ".com/", "event_types": ["job.completed"]},
        {"url": "https://user:pw@hooks.example.com/", "event_types": ["job.completed"]},
        {"url": "https://hooks.example.com/", "event_types": ["job.exploded"]},
        {"url": "https://hooks.example.com/", "event_types": []},
        {"url": "https://hooks.example.com/", "event_types": ["job.completed"], "secret": "whsec_short"},
        {"url": "https://hooks.example.com/", "event_types": ["job.completed"], "description": "a\x00b"},
        {"url": "https://hooks.example.com/", "event_types": ["job.completed"], "unknown": 1},
    ]
    for body in bad_bodies:
        answer = await client.post("/webhooks", json=body, headers=workspace.headers)
        assert answer.status_code == 400, (body, answer.text)
        assert set(answer.json()) >= {"error", "status", "code", "request_id"}
    for grace in (-1, 10**12, "600", True, 1.5):
        answer = await client.post(
            f"/webhooks/{hook['id']}/rotate-secret", json={"grace_s": grace}, headers=workspace.headers
        )
        assert answer.status_code == 400, (grace, answer.text)
    assert (await client.get("/webhooks/not-an-id", headers=workspace.headers)).status_code == 400
    deleted = await client.delete(f"/webhooks/{hook['id']}", headers=workspace.headers)
    assert deleted.status_code == 200 and deleted.json() == {"id": hook["id"], "deleted": True}
    assert (await client.get(f"/webhooks/{hook['id']}", headers=workspace.headers)).status_code == 404
    await _another_workspace_completes(client, engine)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://240.0.0.1/",
        # Other spellings of the same addresses: a literal with a trailing dot, 6to4 of the metadata address.
        "http://169.254.169.254./latest/meta-data",
        "http://10.0.0.1./x",
        "http://[2002:a9fe:a9fe::]/x",
        "http://[2002:a9fe:a9fe::1]/x",
    ],
)
async def test_a_webhook_url_at_a_private_address_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine, url: str
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    answer = await client.post(
        "/webhooks", json={"url": url, "event_types": ["job.completed"]}, headers=workspace.headers
    )
    assert answer.status_code == 400, answer.text
    assert "public addresses" in answer.json()["error"]
    put = await client.put("/billing/webhook", json={"url": url}, headers=workspace.headers)
    assert put.status_code == 400, put.text
    await _another_workspace_completes(client, engine)


async def test_hostile_receivers_cost_one_recorded_attempt_each(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """Huge and slow bodies, no answer, and redirects to loopback and the metadata address: every attempt ends
    within its deadline as a logged failure, and another workspace's request completes meanwhile."""
    scripts = {
        "huge body": lambda n: Answer(status=500, body_bytes=200 * 1024 * 1024),
        "slow body": lambda n: Answer(status=500, body_bytes=10 * 65536, drip_s=1.0),
        "no answer": lambda n: Answer(hang=True),
        "redirect to loopback": lambda n: Answer(status=307, headers={"location": "http://127.0.0.1:9/x"}),
        "redirect to metadata": lambda n: Answer(status=302, headers={"location": "http://169.254.169.254/"}),
    }
    workspace = await make_workspace(engine, tokens=100_000)
    receivers = {name: ScriptedReceiver(script=script) for name, script in scripts.items()}
    for receiver in receivers.values():
        await receiver.__aenter__()
    try:
        hooks = {
            name: await _endpoint(client, workspace, receiver.url, ["job.completed"])
            for name, receiver in receivers.items()
        }
        assert (await client.post("/chat/completions", json=HELLO, headers=workspace.headers)).status_code == 200
        await _another_workspace_completes(client, engine)

        async def all_dead() -> bool:
            logs = [await _deliveries(client, workspace, hook["id"]) for hook in hooks.values()]
            return all(log and log[0]["state"] == "dead" for log in logs)

        assert await _eventually(all_dead, timeout_s=60)
        for name, hook in hooks.items():
            (delivery,) = await _deliveries(client, workspace, hook["id"])
            assert len(delivery["attempts"]) == 4, (name, delivery)
            for attempt in delivery["attempts"]:
                assert attempt["latency_ms"] < 2000 + 1500, (name, attempt)  # the 2 s deadline, with slack
            if name.startswith("redirect"):
                assert "redirects are not followed" in delivery["last_error"], delivery
            if name == "no answer":
                assert delivery["last_error"].startswith("no answer within"), delivery
        await _another_workspace_completes(client, engine)
    finally:
        for receiver in receivers.values():
            await receiver.__aexit__(None, None, None)
    # Nobody followed a redirect: nothing else was contacted, and each receiver saw its four attempts.
    assert all(len(r.received) == 4 for r in receivers.values()), {n: len(r.received) for n, r in receivers.items()}
    assert json.loads(receivers["huge body"].received[0].body)["type"] == "job.completed"


async def test_a_per_request_webhook_hears_of_a_job_refused_at_admission(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A 202'd job the ledger refuses (no credit) still ends with a job.failed at its webhook."""
    workspace = await make_workspace(engine, tokens=1)
    async with ScriptedReceiver() as receiver:
        hook = await _endpoint(client, workspace, receiver.url, ["topup.failed"])
        accepted = await client.post(
            "/chat/completions", json=HELLO | {"webhook": hook["id"]}, headers=workspace.headers
        )
        assert accepted.status_code == 202, accepted.text

        async def one() -> bool:
            return len(receiver.answered) >= 1

        assert await _eventually(one)
    payload = _verified(hook["secret"], receiver.received[0])
    assert payload["type"] == "job.failed"
    assert payload["data"]["job_id"] == accepted.json()["id"] and payload["data"]["status"] == "rejected"
    assert payload["data"]["error"]["code"] == "insufficient_credits" and payload["data"]["cost_tokens"] == 0


async def test_a_dead_receiver_holds_only_its_share_of_the_dispatchers_slots(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """Ten deliveries to a receiver that never answers and one to a healthy receiver, through a dispatcher with
    four slots and two per endpoint: the healthy one is served at once, not after the dead one's deadlines."""
    workspace = await make_workspace(engine, tokens=10_000)
    stack.dispatcher.stop()  # this test runs its own dispatcher, in this process
    try:
        async with (
            ScriptedReceiver(script=lambda n: Answer(hang=True)) as dead,
            ScriptedReceiver() as healthy,
            new_http_client(4, 10.0) as http,
        ):
            await _endpoint(client, workspace, dead.url, ["batch.completed"])
            await _endpoint(client, workspace, healthy.url, ["topup.failed"])
            async with engine.begin() as conn:
                events = [WebhookEvent(workspace.id, "batch.completed", f"evt_dead_{n}", {"n": n}) for n in range(10)]
                assert await record_webhook_events(conn, events) == 10
            async with engine.begin() as conn:
                event = WebhookEvent(workspace.id, "topup.failed", "evt_healthy", {"n": 0})
                assert await record_webhook_events(conn, [event]) == 1
            async with running_dispatcher(
                engine,
                http,
                WebhookPolicy(retry_delays_s=(60.0,), timeout_s=10.0),
                concurrency_max=4,
                endpoint_concurrency_max=2,
                workspace_concurrency_max=8,
            ):
                started = time.monotonic()

                async def served() -> bool:
                    return healthy.answered == ["evt_healthy"]

                assert await _eventually(served, timeout_s=8)
                assert time.monotonic() - started < 5  # well inside the dead receiver's 10 s deadline
                assert len(dead.received) == 2  # its cap: two attempts in flight, the rest wait their turn
    finally:
        stack.dispatcher.start()
