"""Builds the FastAPI ingress: routes, error translation and the lifecycle of its Kafka and database clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import ORJSONResponse
from sqlalchemy.ext.asyncio import create_async_engine

from ingress.errors import install_error_handlers
from ingress.keys import KeyStore
from ingress.publisher import JobPublisher
from ingress.replies import ReplyWaiter
from ingress.routes import billing, catalogue, completions, finance, jobs, keys, openai_compat
from ingress.services import Services
from ingress.settings import IngressSettings
from runtime.readiness import mark_ready


def create_app(settings: IngressSettings) -> FastAPI:
    catalogue_ = settings.load_catalogue()
    engine = create_async_engine(settings.database_url, pool_size=settings.db_pool_size, pool_pre_ping=True)
    services = Services(
        settings=settings,
        catalogue=catalogue_,
        engine=engine,
        keys=KeyStore(engine, settings.key_cache_ttl_s),
        publisher=JobPublisher(settings),
        replies=ReplyWaiter(settings, settings.pending_replies_max),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.publisher.start()
        await services.replies.start()
        mark_ready(settings.ready_file)
        try:
            yield
        finally:
            await services.replies.stop()
            await services.publisher.stop()
            await engine.dispose()

    app = FastAPI(
        title="Luntrex Router API",
        version="1.0.0",
        description="Unified chat completions over many providers, billed in tokens against a prepaid balance.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (completions, jobs, catalogue, billing, finance, keys, openai_compat):
        app.include_router(module.router)

    _document_bearer_auth(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Authentication is a plain dependency, so the OpenAPI document is told about the bearer scheme here."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "a workspace API key"}
            }
            schema["security"] = [{"bearerAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
