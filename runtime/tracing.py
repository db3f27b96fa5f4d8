"""OpenTelemetry traces: one trace per job, across every Kafka hop, exported over OTLP when `OTEL_*` asks for it.

Off by default. Then `start_tracing` builds no SDK pipeline, imports no SDK, and every helper here returns at
once (`headers()` is None, `span()` a shared null context), so an untraced request does no header work.

On (`OTEL_TRACES_EXPORTER=otlp|console`, or an `OTEL_EXPORTER_OTLP_*ENDPOINT`), each service has its own
tracer provider. The W3C `traceparent` (and `tracestate`) of the span that produced a Kafka record travels
in the record's headers: producers call `headers()` (the current span) or `headers_of(span)`, consumers
start their span from `context_of(record_headers)`, so the ingress request, the ledger's hold, the worker's
provider calls, the ledger's settlement and the result's delivery share one trace id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runtime.telemetry_settings import OtelSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

KafkaHeaders = list[tuple[str, bytes]]
TRACE_HEADERS = ("traceparent", "tracestate")
_NULL = contextlib.nullcontext(None)


class Tracing:
    """A service's tracer, or nothing at all when tracing is off."""

    def __init__(self, tracer: Tracer | None = None, provider: TracerProvider | None = None) -> None:
        self._tracer = tracer
        self._provider = provider
        self.enabled = tracer is not None

    def span(
        self,
        name: str,
        *,
        parent: Context | None = None,
        kind: str = "internal",
        attributes: Mapping[str, Any] | None = None,
    ) -> contextlib.AbstractContextManager[Span | None]:
        """A span made current for the block (child of `parent`, else of the current span); off: nothing."""
        if self._tracer is None:
            return _NULL
        return self._tracer.start_as_current_span(
            name, context=parent, kind=_kind(kind), attributes=dict(attributes or {})
        )

    def start_span(
        self, name: str, *, parent: Context | None, kind: str = "internal", start_time_ns: int | None = None
    ) -> Span | None:
        """A span the caller ends itself (one per job of a batch), not made current."""
        if self._tracer is None:
            return None
        return self._tracer.start_span(name, context=parent, kind=_kind(kind), start_time=start_time_ns)

    def headers(self) -> KafkaHeaders | None:
        """Kafka headers carrying the current span's context; None when off or outside any span."""
        if self._tracer is None:
            return None
        from opentelemetry.propagate import inject

        carrier: dict[str, str] = {}
        inject(carrier)
        return [(name, value.encode()) for name, value in carrier.items()] or None

    def headers_of(self, span: Span | None) -> KafkaHeaders | None:
        """Kafka headers carrying `span`'s context."""
        if self._tracer is None or span is None:
            return None
        from opentelemetry.propagate import inject
        from opentelemetry.trace import set_span_in_context

        carrier: dict[str, str] = {}
        inject(carrier, context=set_span_in_context(span))
        return [(name, value.encode()) for name, value in carrier.items()] or None

    def context_of(self, headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Context | None:
        """The context a record's (or a request's) trace headers carry; None when off or absent."""
        if self._tracer is None or not headers:
            return None
        from opentelemetry.propagate import extract

        pairs = headers.items() if isinstance(headers, Mapping) else headers
        carrier = {
            str(name).lower(): value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in pairs
            if str(name).lower() in TRACE_HEADERS
        }
        return extract(carrier) if carrier else None

    def force_flush(self) -> None:
        if self._provider is not None:
            self._provider.force_flush()

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()


def _kind(kind: str) -> Any:
    from opentelemetry.trace import SpanKind

    return {
        "server": SpanKind.SERVER,
        "client": SpanKind.CLIENT,
        "producer": SpanKind.PRODUCER,
        "consumer": SpanKind.CONSUMER,
    }.get(kind, SpanKind.INTERNAL)


def start_tracing(
    service: str, otel: OtelSettings | None = None, *, exporter: SpanExporter | None = None, batch: bool = True
) -> Tracing:
    """The service's tracing as `OTEL_*` configures it (or with `exporter`, as tests do); off unless asked."""
    otel = otel if otel is not None else OtelSettings()
    if exporter is None:
        exporter = _exporter(otel.exporter())
        if exporter is None:
            return Tracing()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": otel.service_name or f"luntrex-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return Tracing(provider.get_tracer("luntrex"), provider)


def _exporter(kind: str | None) -> SpanExporter | None:
    if kind is None:
        return None
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r} is not supported here: use otlp, console or none")
    # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION itself.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
