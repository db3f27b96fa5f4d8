"""Builds the FastAPI ingress: routes, error translation and the lifecycle of its Kafka and database clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from ingress import metrics as telemetry_hooks
from ingress import openapi_document, supervision
from ingress.admin_credential import AdminCredential
from ingress.docs_pages import install_docs_pages
from ingress.door import BodyLimits, RequestGuard
from ingress.early_start import EarlyStartGate
from ingress.errors import install_error_handlers
from ingress.json_response import OrjsonResponse
from ingress.key_directory import KeyDirectory
from ingress.ledger_commands import LedgerCommands
from ingress.publisher import JobPublisher
from ingress.relay import OutboxRelay
from ingress.replies import ReplyWaiter
from ingress.routes import (
    admin,
    batches,
    billing,
    catalogue,
    completions,
    console,
    finance,
    finance_writes,
    guardrails,
    jobs,
    keys,
    openai_batches,
    openai_compat,
)
from ingress.routes import webhooks as webhook_routes
from ingress.services import Services
from ingress.settings import IngressSettings
from ingress.stream_deltas import StreamDeltas
from runtime import heap
from runtime.readiness import mark_ready
from runtime.tracing import start_tracing


def create_app(settings: IngressSettings) -> FastAPI:
    catalogue_ = settings.load_catalogue()
    engine = create_async_engine(settings.database_url, pool_size=settings.db_pool_size, pool_pre_ping=True)
    # The admin credential is kept only as its hash; the settings routes see no longer hold it.
    admin_credential = AdminCredential(settings.admin_key)
    settings = settings.model_copy(update={"admin_key": None})
    telemetry = telemetry_hooks.Telemetry(
        telemetry_hooks.IngressMetrics(catalogue_) if settings.metrics_enabled else None, start_tracing("ingress")
    )
    metrics = telemetry.metrics
    publisher = JobPublisher(
        settings, tracing=telemetry.tracing, published=metrics.publish_duration if metrics is not None else None
    )
    ages = metrics.record_age if metrics is not None else None
    services = Services(
        settings=settings,
        catalogue=catalogue_,
        engine=engine,
        keys=KeyDirectory(settings, engine),
        publisher=publisher,
        replies=ReplyWaiter(settings, settings.pending_replies_max, tracing=telemetry.tracing, ages=ages),
        admin=admin_credential,
        commands=LedgerCommands(settings, pending_max=settings.admin_commands_pending_max),
        relay=OutboxRelay(settings, engine, publisher),
        streams=StreamDeltas(settings, settings.streams_max, settings.stream_deltas_buffered_max, ages=ages),
        early_starts=EarlyStartGate(
            catalogue_,
            enabled=settings.early_start,
            margin=settings.early_start_margin,
            fresh_s=settings.early_start_balance_fresh_s,
            quiet_after_refusal_s=settings.early_start_quiet_after_refusal_s,
            in_flight_max=settings.early_start_in_flight_max,
            workspaces_max=settings.early_start_workspaces_max,
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.publisher.start()
        await services.replies.start()
        await services.streams.start()
        await services.keys.start()
        await services.commands.start()
        relay = supervision.start_supervised("outbox-relay", services.relay.run)
        heap.settle(settings.gc_young_threshold)
        mark_ready(settings.ready_file)
        try:
            yield
        finally:
            await supervision.stop(relay)
            await services.relay.flush()
            await services.commands.stop()
            await services.keys.stop()
            await services.streams.stop()
            await services.replies.stop()
            await services.publisher.stop()
            await engine.dispose()
            telemetry.tracing.shutdown()

    app = FastAPI(
        title="Luntrex Router API",
        version="1.0.0",
        description="Unified chat completions over many providers, billed in tokens against a prepaid balance.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        # Served by install_docs_pages from the app's own assets, never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        limits=BodyLimits(
            body_max_bytes=settings.body_max_bytes,
            bodyless_body_max_bytes=settings.bodyless_body_max_bytes,
            body_read_timeout_s=settings.body_read_timeout_s,
            upload_body_max_bytes=settings.batch_body_max_bytes,
            upload_paths=frozenset({"/api/v1/batches", "/api/v1/openai/files"}),
        ),
    )
    telemetry_hooks.install(app, telemetry)
    for module in (
        completions,
        jobs,
        catalogue,
        billing,
        finance,
        finance_writes,
        keys,
        guardrails,
        admin,
        openai_compat,
        console,
        batches,
        openai_batches,
    ):
        app.include_router(module.router)
    app.include_router(finance_writes.admin_router)
    app.include_router(webhook_routes.router)

    install_docs_pages(app)
    app.openapi = lambda: _cached_document(app)  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _cached_document(app: FastAPI) -> dict[str, object]:
    if app.openapi_schema is None:
        app.openapi_schema = openapi_document.document(app)
    return app.openapi_schema
