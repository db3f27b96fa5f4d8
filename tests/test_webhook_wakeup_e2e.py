"""The webhook dispatcher is woken by the writers of delivery rows (NOTIFY at commit, LISTEN in the dispatcher),
on the real PostgreSQL, as the service roles `make up` gives the ledger and the dispatcher.

Each test has a database of its own (no other dispatcher claims its rows) and runs its dispatcher in this
process with a fallback poll of 30 s, so only a notification can explain a delivery within a second or two.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from standardwebhooks import Webhook

from ledger import finance_events, webhooks
from ledger.dispatcher import Dispatcher, new_http_client
from ledger.webhook_delivery import WebhookPolicy
from ledger.webhook_events import WebhookEvent, record_webhook_events
from ledger.webhook_wakeup import CHANNEL
from runtime.consume import Backoff
from runtime.db_roles import libpq_url, role_url
from schemas.finance import TopupFailed
from tests.conftest import make_workspace
from tests.dispatcher_runs import LOOPBACK
from tests.webhook_receiver import Receiver, ScriptedReceiver

FALLBACK_S = 30.0
# Far under the fallback poll, and generous for a shared two-core machine.
PROMPT_S = 2.0


async def _eventually(probe: Callable[[], Awaitable[Any] | Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if asyncio.iscoroutine(found):
            found = await found
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


def _ledger_url(own_engine: AsyncEngine) -> str:
    """The test database as the ledger's role, which the dispatcher also runs as (`stack.processes`)."""
    return role_url(own_engine.url.render_as_string(hide_password=False), "ledger")


@asynccontextmanager
async def _as_ledger(own_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(_ledger_url(own_engine), pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def _running(
    engine: AsyncEngine, *, poll_interval_s: float = FALLBACK_S, listen_backoff: Backoff | None = None
) -> AsyncIterator[Dispatcher]:
    """A listening dispatcher with a 30 s safety-net poll, once its LISTEN is up and its first look is done."""
    async with new_http_client(8, 5.0) as http:
        dispatcher = Dispatcher(
            engine,
            http,
            WebhookPolicy(retry_delays_s=(60.0,), timeout_s=5.0),
            LOOPBACK,
            concurrency_max=8,
            poll_interval_s=poll_interval_s,
            endpoint_concurrency_max=4,
            workspace_concurrency_max=8,
            listen_conninfo=libpq_url(str(engine.url.render_as_string(hide_password=False))),
            tick_interval_max_s=FALLBACK_S,
            listen_backoff=listen_backoff or Backoff(initial_s=0.2, max_s=1.0),
        )
        running = asyncio.create_task(dispatcher.run())
        try:
            listener = dispatcher.listener
            assert listener is not None
            assert await _eventually(lambda: listener.listening, timeout_s=10), "the dispatcher never listened"
            await asyncio.sleep(0.3)  # the look it takes on connecting finds nothing and settles into its wait
            yield dispatcher
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await dispatcher.close()


async def _endpoint(engine: AsyncEngine, workspace_id: str, url: str, types: list[str]) -> dict[str, Any]:
    async with engine.begin() as conn:
        return await webhooks.create_endpoint(
            conn, workspace_id, url=url, event_types=types, description="", enabled=True, secret=None, policy=LOOPBACK
        )


async def _delivered_within(receiver: Receiver, count: int, committed_at: float) -> float:
    """Seconds from the commit to the receiver holding `count` POSTs (fails past the prompt bound)."""
    assert await _eventually(lambda: len(receiver.received) >= count, timeout_s=PROMPT_S + 3), receiver.received
    return time.monotonic() - committed_at


async def test_committed_deliveries_go_out_at_once_not_at_the_fallback_poll(own_engine: AsyncEngine) -> None:
    """Job or batch events, finance events and a redelivery each wake the dispatcher at commit; the ledger's
    role may NOTIFY in its transactions and the dispatcher's role may LISTEN."""
    workspace = await make_workspace(own_engine, tokens=1_000)
    async with (
        ScriptedReceiver() as receiver,
        _as_ledger(own_engine) as ledger,
        _running(ledger) as dispatcher,
    ):
        hook = await _endpoint(ledger, workspace.id, receiver.url, ["batch.completed", "topup.failed"])
        delays = []
        for n in range(3):
            async with ledger.begin() as conn:
                event = WebhookEvent(workspace.id, "batch.completed", f"evt_wake_{n}", {"n": n})
                assert await record_webhook_events(conn, [event]) == 1
            delays.append(await _delivered_within(receiver, n + 1, time.monotonic()))
        failed = TopupFailed(
            workspace_id=workspace.id,
            job_id="tu_wake",
            topup_id="tu_wake",
            origin="manual",
            method="invoice",
            amount_paisa=100,
            attempt=1,
            reason="declined",
            will_retry=False,
        )
        async with ledger.begin() as conn:
            await finance_events.record(conn, [failed])
        delays.append(await _delivered_within(receiver, 4, time.monotonic()))
        async with ledger.connect() as conn:
            first = (
                await conn.execute(
                    text("SELECT id FROM webhook_deliveries WHERE event_id = 'evt_wake_0' AND state = 'delivered'")
                )
            ).scalar_one()
        async with ledger.begin() as conn:
            queued = await webhooks.redeliver(conn, workspace.id, first)
        assert queued["state"] == "pending"
        delays.append(await _delivered_within(receiver, 5, time.monotonic()))
        listener = dispatcher.listener
        assert listener is not None and listener.connections == 1  # all heard on the one connection
    assert max(delays) < PROMPT_S < FALLBACK_S, delays
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids[:3] == ["evt_wake_0", "evt_wake_1", "evt_wake_2"] and ids[4] == "evt_wake_0"
    assert ids[3] == failed.event_id
    for received in receiver.received:
        Webhook(hook["secret"]).verify(received.body, received.headers)


async def test_a_rolled_back_write_wakes_nothing_and_delivers_nothing(own_engine: AsyncEngine) -> None:
    """A rolled-back write notifies nobody; a commit of several deliveries notifies once; a write that finds no
    endpoint notifies nobody (NOTIFY only when rows were written)."""
    workspace = await make_workspace(own_engine, tokens=1_000)
    async with (
        ScriptedReceiver() as receiver,
        _as_ledger(own_engine) as ledger,
        _running(ledger),
        await psycopg.AsyncConnection.connect(libpq_url(_ledger_url(own_engine)), autocommit=True) as listening,
    ):
        await listening.execute(f"LISTEN {CHANNEL}")
        await _endpoint(ledger, workspace.id, receiver.url, ["batch.completed"])
        async with ledger.connect() as conn:
            transaction = await conn.begin()
            events = [WebhookEvent(workspace.id, "batch.completed", f"evt_undone_{n}", {"n": n}) for n in range(3)]
            assert await record_webhook_events(conn, events) == 3  # written, then undone
            await transaction.rollback()
        async with ledger.begin() as conn:
            unsubscribed = WebhookEvent(workspace.id, "topup.succeeded", "evt_nobody", {})
            assert await record_webhook_events(conn, [unsubscribed]) == 0
        heard = [n async for n in listening.notifies(timeout=1.5)]
        assert heard == []
        assert receiver.received == []
        async with ledger.begin() as conn:
            events = [WebhookEvent(workspace.id, "batch.completed", f"evt_done_{n}", {"n": n}) for n in range(3)]
            assert await record_webhook_events(conn, events) == 3
        heard = [n async for n in listening.notifies(timeout=1.5)]
        assert [n.channel for n in heard] == [CHANNEL]  # one notification for the transaction's three rows
        await _delivered_within(receiver, 3, time.monotonic())
        await asyncio.sleep(0.5)
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == ["evt_done_0", "evt_done_1", "evt_done_2"]
    async with own_engine.connect() as conn:
        undone = await conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE event_id LIKE 'evt_undone_%'"))
        assert undone.scalar_one() == 0


async def test_a_lost_listen_connection_falls_back_to_the_poll_and_comes_back(own_engine: AsyncEngine) -> None:
    """The dispatcher's LISTEN backend is terminated (by the same role, as a dropped connection would end it):
    deliveries keep going out by the poll while it is down, and it reconnects by itself."""
    workspace = await make_workspace(own_engine, tokens=1_000)
    async with (
        ScriptedReceiver() as receiver,
        _as_ledger(own_engine) as ledger,
        _running(ledger, poll_interval_s=0.5, listen_backoff=Backoff(initial_s=6.0, max_s=6.0)) as dispatcher,
    ):
        listener = dispatcher.listener
        assert listener is not None
        await _endpoint(ledger, workspace.id, receiver.url, ["batch.completed"])
        async with ledger.connect() as conn:
            ended = await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.backend_pid})
            assert ended.scalar_one() is True
        assert await _eventually(lambda: not listener.listening, timeout_s=5)
        async with ledger.begin() as conn:
            event = WebhookEvent(workspace.id, "batch.completed", "evt_polled", {})
            assert await record_webhook_events(conn, [event]) == 1
        # Delivered by the 0.5 s poll (the notification went to nobody), before the listener's 6 s backoff ends.
        await _delivered_within(receiver, 1, time.monotonic())
        assert not listener.listening and listener.connections == 1
        assert await _eventually(lambda: listener.listening, timeout_s=15), "the listener never came back"
        assert listener.connections == 2
        async with ledger.begin() as conn:
            event = WebhookEvent(workspace.id, "batch.completed", "evt_heard_again", {})
            assert await record_webhook_events(conn, [event]) == 1
        await _delivered_within(receiver, 2, time.monotonic())
    assert [r.headers["webhook-id"] for r in receiver.received] == ["evt_polled", "evt_heard_again"]
