"""Builds the worker process: one HTTP client, one adapter per provider, one pool per served model pool."""

from __future__ import annotations

import asyncio
import logging
import os

import httpx

from runtime import heap
from runtime.kafka import new_producer
from runtime.readiness import mark_ready
from runtime.tracing import start_tracing
from schemas.catalogue import Catalogue
from schemas.topics import Lane
from workers.execution import ProviderSlot
from workers.lanes import LaneLimiter
from workers.pool import ModelPool
from workers.providers.base import ProviderConfig
from workers.providers.client import ProviderClient, environment_proxies
from workers.providers.registry import build_adapter
from workers.providers.streams.registry import build_stream_adapter
from workers.settings import WorkerSettings
from workers.telemetry import WorkerTelemetry

log = logging.getLogger(__name__)


def new_http_client(settings: WorkerSettings) -> ProviderClient:
    limits = httpx.Limits(
        max_connections=settings.http_connections_max, max_keepalive_connections=settings.http_connections_max
    )
    proxies = environment_proxies()
    if settings.http_transport == "aiohttp":
        return ProviderClient(_aiohttp_transport(limits), proxies=proxies)
    return ProviderClient(httpx.AsyncHTTPTransport(limits=limits), proxies=proxies)


def _aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    ssl_context = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        # Built at the first call, inside the running loop. aiohttp's default jar would keep a provider's
        # Set-Cookie (for a host name, not an IP address) and send it with every later call, whichever
        # workspace's it is: the session keeps none (see workers/providers/client.py).
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0, keepalive_timeout=limits.keepalive_expiry, ssl=ssl_context
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(client=session)


def provider_slots(settings: WorkerSettings, catalogue: Catalogue, client: ProviderClient) -> dict[str, ProviderSlot]:
    slots: dict[str, ProviderSlot] = {}
    for name, provider in catalogue.providers.items():
        api_key = os.environ.get(provider.api_key_env) if provider.api_key_env else None
        base_url = settings.provider_base_urls.get(name, provider.base_url)
        config = ProviderConfig(
            name=name,
            base_url=base_url,
            api_key=api_key,
            client=client,
            response_max_bytes=settings.provider_response_max_bytes,
        )
        slots[name] = ProviderSlot(
            adapter=build_adapter(provider.kind, config),
            limiter=LaneLimiter.from_shares(
                provider.concurrency_max,
                batch_share_max=settings.batch_provider_share_max,
                batch_share_min=settings.batch_provider_share_min,
            ),
            timeout_s=provider.timeout_s,
            stream_adapter=build_stream_adapter(provider.kind, config),
        )
    return slots


async def run_workers(settings: WorkerSettings) -> None:
    catalogue = settings.load_catalogue()
    pool_names = settings.pools or sorted(catalogue.pools())
    unknown = set(pool_names) - catalogue.pools()
    if unknown:
        raise SystemExit(f"unknown pools {sorted(unknown)}; the catalogue has {sorted(catalogue.pools())}")
    client = new_http_client(settings)
    # Each lane has its own producer: the interactive lane's sends at once, the batch lane's lingers to fill
    # requests, and neither's queue ever holds the other's records.
    producers = {
        Lane.INTERACTIVE: new_producer(settings),
        Lane.BATCH: new_producer(
            settings, linger_ms=settings.batch_kafka_linger_ms, batch_bytes_max=settings.batch_kafka_batch_bytes_max
        ),
    }
    for producer in producers.values():
        await producer.start()
    slots = provider_slots(settings, catalogue, client)
    telemetry = WorkerTelemetry(settings, catalogue, start_tracing("workers"))
    # Each lane of a pool has its own consumer: an interactive job never queues behind batch records.
    pools = [
        ModelPool(name, settings, catalogue, slots, producers[lane], lane=lane, telemetry=telemetry)
        for name in pool_names
        for lane in Lane
    ]
    lag = telemetry.lag_monitor([pool.group_id for pool in pools])
    lag_task = asyncio.create_task(lag.run()) if lag is not None else None
    try:
        for pool in pools:
            await pool.start()
        telemetry.serve()
        heap.settle(settings.gc_young_threshold)
        mark_ready(settings.ready_file)
        log.info("workers ready: pools %s", ", ".join(pool_names))
        await asyncio.gather(*(pool.run() for pool in pools))
    finally:
        if lag_task is not None:
            lag_task.cancel()
        if lag is not None:
            await lag.close()
        telemetry.close()
        for pool in pools:
            await pool.stop()
        for producer in producers.values():
            await producer.stop()
        await client.aclose()
