"""A pooled client's idle connection outlives the pool's own expiry: the ingress never closes it just as the
client reuses it (a POST then lost to a reset before it reached the app)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace

# httpx's (and so the openai package's) default pool expiry, which was also uvicorn's keep-alive default.
CLIENT_POOL_EXPIRY_S = 5.0


def _local_address(response: httpx.Response) -> object:
    return response.extensions["network_stream"].get_extra_info("client_addr")


async def test_an_idle_connection_outlives_the_client_pools_expiry(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=1_000)
    limits = httpx.Limits(keepalive_expiry=60)
    async with httpx.AsyncClient(base_url=stack.base_url, limits=limits, timeout=30) as client:
        first = await client.get("/balance", headers=workspace.headers)
        assert first.status_code == 200, first.text
        await asyncio.sleep(CLIENT_POOL_EXPIRY_S + 1.5)
        # httpx drops a pooled connection the server has closed and opens another: the same local address says
        # the server kept this one open through the idle time.
        again = await client.get("/balance", headers=workspace.headers)
        assert again.status_code == 200, again.text
        assert _local_address(again) == _local_address(first)
