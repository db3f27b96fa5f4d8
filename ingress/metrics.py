"""The ingress's metrics and the ASGI middleware that times every request, traces it and names it in logs.

`/metrics` (on the ingress port) serves this process's registry. Requests are labelled by route template
(`/api/v1/jobs/{job_id}`, never the path; `unmatched` for a path no route serves), method, status and model
(the catalogue id the request asked for, `other` for an unknown name, `none` on routes without one).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from ingress.errors import request_id_of
from runtime import logs
from runtime.metrics import (
    LATENCY_BUCKETS_S,
    NAMESPACE,
    NONE,
    ModelLabel,
    exposition,
    new_registry,
    publish_histogram,
    record_age_histogram,
)
from runtime.tracing import Tracing
from schemas.catalogue import Catalogue

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "unmatched"
# The scope's state key a route sets to the model a request asked for (see `note_model`).
MODEL_STATE = "metrics_model"


class IngressMetrics:
    def __init__(self, catalogue: Catalogue, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.model = ModelLabel(catalogue)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method, status and model",
            ["route", "method", "status", "model"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template, method and model",
            ["route", "method", "model"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.record_age = record_age_histogram(self.registry)
        self.publish_duration = publish_histogram(self.registry)
        self.result = Histogram(
            "job_result_seconds",
            "Time from a job's submission to its billed result reaching the caller, by answering model and status",
            ["model", "status"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )


class Telemetry:
    """What the ingress observes with: its metrics (None when off) and its tracing."""

    def __init__(self, metrics: IngressMetrics | None, tracing: Tracing) -> None:
        self.metrics = metrics
        self.tracing = tracing


def note_model(request: Request, model_name: str | None) -> None:
    """Label this request's metrics with the model it asked for (bounded by the catalogue)."""
    telemetry: Telemetry | None = getattr(request.app.state, "telemetry", None)
    if telemetry is not None and telemetry.metrics is not None:
        request.scope.setdefault("state", {})[MODEL_STATE] = telemetry.metrics.model(model_name)


def observe_result(request: Request, model_id: str, status: str, started_s: float) -> None:
    """A job's billed result reached its caller `time.perf_counter() - started_s` after submission."""
    telemetry: Telemetry | None = getattr(request.app.state, "telemetry", None)
    if telemetry is not None and telemetry.metrics is not None:
        metrics = telemetry.metrics
        metrics.result.labels(metrics.model(model_id), status).observe(time.perf_counter() - started_s)


class TelemetryMiddleware:
    """Pure ASGI (no per-request task or body copy): binds the request id for logs, opens the request's
    server span when tracing is on, and counts and times the answer."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        tokens = logs.bind(request_id=request_id_of(Request(scope)))
        status = [500]

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        tracing = self.telemetry.tracing
        try:
            if tracing.enabled:
                await self._traced(scope, receive, send_noting_status, status)
            else:
                await self.app(scope, receive, send_noting_status)
        finally:
            logs.unbind(tokens)
            self._count(scope, status[0], time.perf_counter() - started)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        tracing = self.telemetry.tracing
        parent = tracing.context_of([(k.decode("latin-1"), v) for k, v in scope.get("headers", ())])
        with tracing.span(f"{scope['method']} ingress", parent=parent, kind="server") as span:
            try:
                await self.app(scope, receive, send)
            finally:
                if span is not None:
                    route = _route_of(scope)
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status[0])
                    span.set_attribute("luntrex.request_id", str(scope.get("state", {}).get("request_id", "")))

    def _count(self, scope: Scope, status: int, elapsed_s: float) -> None:
        metrics = self.telemetry.metrics
        if metrics is None:
            return
        route, method = _route_of(scope), scope["method"]
        model = scope.get("state", {}).get(MODEL_STATE, NONE)
        metrics.requests.labels(route, method, str(status), model).inc()
        metrics.latency.labels(route, method, model).observe(elapsed_s)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def install(app: FastAPI, telemetry: Telemetry) -> None:
    """Add the middleware (outermost, so refusals at the door are counted too) and `GET /metrics`."""
    app.state.telemetry = telemetry
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    metrics = telemetry.metrics
    if metrics is None:
        return

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        body, content_type = exposition(metrics.registry)
        return Response(content=body, media_type=content_type)
