"""Webhooks under hostile or careless use: invalid ports, attempts that fail in ways nobody foresaw, one
workspace's slow receivers beside another's deliveries, paused endpoints and the endpoint limit; each case ends by
proving another workspace's delivery still completes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.dispatcher import new_http_client
from ledger.webhook_delivery import WebhookPolicy
from ledger.webhook_events import WebhookEvent, record_webhook_events
from tests.conftest import Stack, Workspace, make_workspace
from tests.dispatcher_runs import running_dispatcher
from tests.test_webhooks_e2e import HELLO, _deliveries, _endpoint, _eventually
from tests.webhook_receiver import Answer, ScriptedReceiver


async def _another_workspace_is_delivered(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """A fresh workspace's job event reaches its healthy receiver through the stack's dispatcher."""
    other = await make_workspace(engine, tokens=10_000)
    async with ScriptedReceiver() as receiver:
        await _endpoint(client, other, receiver.url, ["job.completed"])
        answer = await client.post("/chat/completions", json=HELLO, headers=other.headers)
        assert answer.status_code == 200, answer.text

        async def delivered() -> bool:
            return receiver.answered == [f"evt_{answer.json()['id']}"]

        assert await _eventually(delivered, timeout_s=15)


async def _insert_endpoint(engine: AsyncEngine, workspace: Workspace, url: str, types: list[str]) -> str:
    """An endpoint written straight into the table, past registration's checks (a row from before them)."""
    endpoint_id = f"we_{time.time_ns():x}"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, event_types) "
                "VALUES (:id, :ws, :url, :secret, :types)"
            ),
            {
                "id": endpoint_id,
                "ws": workspace.id,
                "url": url,
                "secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "types": types,
            },
        )
    return endpoint_id


@pytest.mark.parametrize("port", ["99999", "65536", "0"])
async def test_a_url_with_an_invalid_port_is_refused_at_registration(
    client: httpx.AsyncClient, engine: AsyncEngine, port: str
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    url = f"https://hooks.example.com:{port}/x"
    created = await client.post(
        "/webhooks", json={"url": url, "event_types": ["job.completed"]}, headers=workspace.headers
    )
    assert created.status_code == 400, created.text
    body = created.json()
    assert body["code"] == "invalid_request" and body["error"].startswith("url:") and port in body["error"]
    hook = await _endpoint(client, workspace, "https://hooks.example.com/x", ["job.completed"])
    patched = await client.patch(f"/webhooks/{hook['id']}", json={"url": url}, headers=workspace.headers)
    assert patched.status_code == 400 and patched.json()["error"].startswith("url:"), patched.text
    put = await client.put("/billing/webhook", json={"url": url}, headers=workspace.headers)
    assert put.status_code == 400 and put.json()["error"].startswith("url:"), put.text
    await _another_workspace_is_delivered(client, engine)


async def test_an_endpoint_with_an_invalid_port_from_before_the_check_ends_dead_with_its_attempts_logged(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Each attempt used to crash the delivery task unrecorded, leasing the delivery again every 20 s forever."""
    workspace = await make_workspace(engine, tokens=10_000)
    endpoint_id = await _insert_endpoint(engine, workspace, "http://127.0.0.1:99999/x", ["batch.completed"])
    async with engine.begin() as conn:
        event = WebhookEvent(workspace.id, "batch.completed", "evt_bad_port", {"n": 1})
        assert await record_webhook_events(conn, [event]) == 1

    async def dead() -> list[dict[str, Any]]:
        log = await _deliveries(client, workspace, endpoint_id)
        return [d for d in log if d["state"] == "dead"]

    (delivery,) = await _eventually(dead, timeout_s=20)
    # The stack's schedule: at once and three retries, each attempt logged with its reason.
    assert len(delivery["attempts"]) == 4, delivery
    assert all("port 99999" in a["error"] for a in delivery["attempts"]), delivery
    await _another_workspace_is_delivered(client, engine)


async def test_an_unforeseen_error_in_an_attempt_is_a_logged_failed_attempt_on_the_schedule(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """An attempt raising what no clause expects (an ExceptionGroup, as anyio's connect raised for port 99999)
    is a failed attempt with its reason, retried on the schedule to `dead`; another workspace's delivery in the
    same dispatcher is made meanwhile."""
    poisoned = await make_workspace(engine, tokens=10_000)
    healthy = await make_workspace(engine, tokens=10_000)
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["webhook-id"] == "evt_poison":
            raise ExceptionGroup("unhandled errors in a TaskGroup", [OverflowError("port must be 0-65535")])
        sent.append(request.headers["webhook-id"])
        return httpx.Response(200)

    stack.dispatcher.stop()  # this test runs its own dispatcher, in this process
    try:
        poison_hook = await _endpoint(client, poisoned, "http://127.0.0.1:9/poison", ["batch.completed"])
        healthy_hook = await _endpoint(client, healthy, "http://127.0.0.1:9/healthy", ["batch.completed"])
        async with engine.begin() as conn:
            events = [
                WebhookEvent(poisoned.id, "batch.completed", "evt_poison", {"n": 0}),
                WebhookEvent(healthy.id, "batch.completed", "evt_healthy", {"n": 0}),
            ]
            assert await record_webhook_events(conn, events) == 2
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http,
            running_dispatcher(
                engine,
                http,
                WebhookPolicy(retry_delays_s=(0.2, 0.2), timeout_s=5.0),
                concurrency_max=4,
                endpoint_concurrency_max=2,
                workspace_concurrency_max=8,
            ),
        ):

            async def dead() -> list[dict[str, Any]]:
                log = await _deliveries(client, poisoned, poison_hook["id"])
                return [d for d in log if d["state"] == "dead"]

            (delivery,) = await _eventually(dead, timeout_s=15)
        assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
        assert all(a["error"].startswith("unexpected error: ExceptionGroup") for a in delivery["attempts"])
        assert delivery["last_error"].startswith("unexpected error:")
        assert sent == ["evt_healthy"]
        (other,) = await _deliveries(client, healthy, healthy_hook["id"])
        assert other["state"] == "delivered"
    finally:
        stack.dispatcher.start()
    await _another_workspace_is_delivered(client, engine)


async def test_one_workspaces_slow_receivers_never_hold_another_workspaces_delivery(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """Ten endpoints of one workspace on a receiver that never answers, 40 deliveries, through a dispatcher of
    eight slots (two an endpoint, four a workspace): the other workspace's delivery, recorded once they are in
    flight, is served at once, not after their 10 s deadlines. Per endpoint alone, the ten endpoints would take
    all eight slots."""
    noisy = await make_workspace(engine, tokens=10_000)
    victim = await make_workspace(engine, tokens=10_000)
    stack.dispatcher.stop()  # this test runs its own dispatcher, in this process
    try:
        async with (
            ScriptedReceiver(script=lambda n: Answer(hang=True)) as slow,
            ScriptedReceiver() as healthy,
            new_http_client(8, 10.0) as http,
        ):
            for _ in range(10):
                await _endpoint(client, noisy, slow.url, ["batch.completed"])
            await _endpoint(client, victim, healthy.url, ["batch.completed"])
            async with engine.begin() as conn:
                events = [WebhookEvent(noisy.id, "batch.completed", f"evt_noisy_{n}", {"n": n}) for n in range(4)]
                assert await record_webhook_events(conn, events) == 40
            async with running_dispatcher(
                engine,
                http,
                WebhookPolicy(retry_delays_s=(60.0,), timeout_s=10.0),
                concurrency_max=8,
                endpoint_concurrency_max=2,
                workspace_concurrency_max=4,
            ):

                async def noisy_in_flight() -> bool:
                    return len(slow.received) >= 4

                assert await _eventually(noisy_in_flight, timeout_s=8)
                await asyncio.sleep(0.5)  # every slot the noisy workspace could take, it has taken
                async with engine.begin() as conn:
                    event = WebhookEvent(victim.id, "batch.completed", "evt_victim", {"n": 0})
                    assert await record_webhook_events(conn, [event]) == 1
                started = time.monotonic()

                async def served() -> bool:
                    return healthy.answered == ["evt_victim"]

                assert await _eventually(served, timeout_s=15)
                assert time.monotonic() - started < 3  # well inside the slow receiver's 10 s deadline
                assert len(slow.received) == 4  # the noisy workspace's cap, whatever its endpoints
    finally:
        stack.dispatcher.start()
    await _another_workspace_is_delivered(client, engine)


async def test_a_paused_endpoint_holds_its_deliveries_and_goes_on_when_enabled(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """Disabling an endpoint (the console's Pause) holds its pending retry and the events raised meanwhile (a job's,
    through settlement, and a batch's): nothing is attempted or dead-lettered while paused, however long past
    their due time, a redelivery is a 409, and enabling it sends them all, the retry going on from its attempts."""
    workspace = await make_workspace(engine, tokens=10_000)
    stack.dispatcher.stop()  # this test runs its own dispatcher (a retry schedule it can outwait), in this process
    try:
        async with (
            ScriptedReceiver(script=lambda n: Answer(status=503 if n == 0 else 200)) as receiver,
            new_http_client(4, 5.0) as http,
        ):
            hook = await _endpoint(client, workspace, receiver.url, ["batch.completed", "job.completed"])
            async with engine.begin() as conn:
                first = WebhookEvent(workspace.id, "batch.completed", "evt_before_pause", {"n": 0})
                assert await record_webhook_events(conn, [first]) == 1
            async with running_dispatcher(
                engine,
                http,
                WebhookPolicy(retry_delays_s=(2.0, 2.0), timeout_s=5.0),
                concurrency_max=4,
                endpoint_concurrency_max=2,
                workspace_concurrency_max=4,
            ):

                async def refused_once() -> bool:
                    log = await _deliveries(client, workspace, hook["id"])
                    return bool(log) and len(log[0]["attempts"]) == 1

                assert await _eventually(refused_once, timeout_s=10)
                paused = await client.patch(
                    f"/webhooks/{hook['id']}", json={"enabled": False}, headers=workspace.headers
                )
                assert paused.status_code == 200 and paused.json()["enabled"] is False, paused.text
                # Events raised while paused are recorded, held: a job's (settlement) and a batch's.
                chat = await client.post("/chat/completions", json=HELLO, headers=workspace.headers)
                assert chat.status_code == 200, chat.text
                async with engine.begin() as conn:
                    during = WebhookEvent(workspace.id, "batch.completed", "evt_during_pause", {"n": 1})
                    assert await record_webhook_events(conn, [during]) == 1

                async def three_held() -> list[dict[str, Any]]:
                    log = await _deliveries(client, workspace, hook["id"])
                    return log if len(log) == 3 and {d["state"] for d in log} == {"held"} else []

                log = await _eventually(three_held, timeout_s=10)
                assert log, await _deliveries(client, workspace, hook["id"])
                assert all(d["next_attempt_at"] is None for d in log)
                refused = await client.post(
                    f"/webhooks/deliveries/{log[-1]['id']}/redeliver", headers=workspace.headers
                )
                assert refused.status_code == 409, refused.text
                assert refused.json()["code"] == "conflict" and "disabled" in refused.json()["error"]
                await asyncio.sleep(3.0)  # past the retry's due time: still held, nothing sent, nothing dead
                log = await _deliveries(client, workspace, hook["id"])
                assert {d["state"] for d in log} == {"held"} and len(receiver.received) == 1, log
                resumed = await client.patch(
                    f"/webhooks/{hook['id']}", json={"enabled": True}, headers=workspace.headers
                )
                assert resumed.status_code == 200, resumed.text

                async def all_delivered() -> list[dict[str, Any]]:
                    log = await _deliveries(client, workspace, hook["id"])
                    return log if {d["state"] for d in log} == {"delivered"} else []

                log = await _eventually(all_delivered, timeout_s=10)
                assert log, await _deliveries(client, workspace, hook["id"])
        expected = {"evt_before_pause", "evt_during_pause", f"evt_{chat.json()['id']}"}
        assert set(receiver.answered) == expected and len(receiver.received) == 4
        (before,) = [d for d in log if d["event_id"] == "evt_before_pause"]
        assert [a["status_code"] for a in before["attempts"]] == [503, 200]  # the schedule went on from attempt 1
    finally:
        stack.dispatcher.start()
    await _another_workspace_is_delivered(client, engine)


async def test_the_billing_webhook_counts_among_the_twenty_endpoints(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    for n in range(20):
        await _endpoint(client, workspace, f"https://hooks.example.com/{n}", ["job.completed"])
    put = await client.put("/billing/webhook", json={"url": "https://hooks.example.com/b"}, headers=workspace.headers)
    assert put.status_code == 400, put.text
    assert put.json()["code"] == "invalid_request" and "at most 20" in put.json()["error"]
    listed = await client.get("/webhooks", headers=workspace.headers)
    assert len(listed.json()["data"]) == 20
    # With the billing endpoint made first, it is one of the 20: the 20th POST is the one refused.
    other = await make_workspace(engine, tokens=10_000)
    put = await client.put("/billing/webhook", json={"url": "https://hooks.example.com/b"}, headers=other.headers)
    assert put.status_code == 200, put.text
    for n in range(19):
        await _endpoint(client, other, f"https://hooks.example.com/{n}", ["job.completed"])
    refused = await client.post(
        "/webhooks",
        json={"url": "https://hooks.example.com/x", "event_types": ["job.completed"]},
        headers=other.headers,
    )
    assert refused.status_code == 400 and "at most 20" in refused.json()["error"], refused.text
    # Setting the billing webhook again changes it in place: no new endpoint, so no refusal at the limit.
    again = await client.put("/billing/webhook", json={"url": "https://hooks.example.com/c"}, headers=other.headers)
    assert again.status_code == 200 and again.json()["id"] == put.json()["id"], again.text
    await _another_workspace_is_delivered(client, engine)
