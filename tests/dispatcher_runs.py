"""A webhook dispatcher run in the test process beside the stack's own (stopped meanwhile by the test), with the
policy and slot caps a test sets, and the loopback receivers of the tests allowed."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.dispatcher import Dispatcher
from ledger.webhook_delivery import WebhookPolicy
from ledger.webhook_network import NetworkPolicy

# The tests' receivers listen on 127.0.0.1; every other non-global address stays refused.
LOOPBACK = NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


@asynccontextmanager
async def running_dispatcher(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    policy: WebhookPolicy,
    *,
    concurrency_max: int = 4,
    endpoint_concurrency_max: int = 2,
    workspace_concurrency_max: int = 8,
) -> AsyncIterator[Dispatcher]:
    """A dispatcher polling every 50 ms until the block ends, then stopped and closed."""
    dispatcher = Dispatcher(
        engine,
        http,
        policy,
        LOOPBACK,
        concurrency_max=concurrency_max,
        poll_interval_s=0.05,
        endpoint_concurrency_max=endpoint_concurrency_max,
        workspace_concurrency_max=workspace_concurrency_max,
    )
    running = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await dispatcher.close()
