"""A PostgreSQL outage longer than the old ledger survived (~11 s) stops nothing for good: the ledger waits it
out, retrying with backoff and acking nothing, then bills every job that arrived meanwhile, each once."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.processes import Service, free_port
from tests.tcp_proxy import TcpProxy
from tests.test_ledger_exactly_once_e2e import PROMPT, assert_each_job_billed_once, wait_all_completed

OUTAGE_S = 15


async def test_the_ledger_waits_out_a_database_outage_and_then_bills_everything_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    url = urlsplit(stack.database_url)
    proxy = TcpProxy(f"{url.hostname or '127.0.0.1'}:{url.port or 5432}", free_port(), kafka=False)
    await proxy.start()
    proxied_url = stack.database_url.replace(f"{url.hostname}:{url.port}", f"127.0.0.1:{proxy.port}")
    env = {**stack.ledger.env, "LUNTREX_DATABASE_URL": proxied_url}
    proxied = Service("ledger-proxied", ["ledger"], env, stack.ledger.workdir)
    await asyncio.to_thread(stack.ledger.stop)
    try:
        await asyncio.to_thread(proxied.start)
        workspace = await make_workspace(engine, tokens=100_000)
        response = await client.post("/chat/completions", json=PROMPT, headers=workspace.headers)
        assert response.status_code == 200

        await proxy.cut()
        async_headers = {**workspace.headers, "Prefer": "respond-async"}
        accepted = await asyncio.gather(
            *(client.post("/chat/completions", json=PROMPT, headers=async_headers) for _ in range(5))
        )
        assert all(a.status_code == 202 for a in accepted)
        await asyncio.sleep(OUTAGE_S)
        assert proxied.process is not None and proxied.process.poll() is None, proxied.log_tail()
        assert "failed transiently" in proxied.log_tail(200)
        restored_at = time.monotonic()
        await proxy.start()

        await wait_all_completed(engine, workspace.id, 6, proxied.log_tail())
        assert time.monotonic() - restored_at < 30
        await assert_each_job_billed_once(engine, workspace.id, 6, 100_000)
    finally:
        await asyncio.to_thread(proxied.stop)
        await proxy.cut()
        await asyncio.to_thread(stack.ledger.start)
