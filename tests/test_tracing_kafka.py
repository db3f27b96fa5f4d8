"""Trace context crosses real Kafka in record headers: the consumer's span joins the producer's trace.

In-process, with the SDK's in-memory exporter; the services' own hops are covered end to end in
tests/test_tracing_e2e.py.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.settings import ServiceSettings
from runtime.telemetry_settings import OtelSettings
from runtime.tracing import Tracing, start_tracing
from tests.services import ROOT
from tests.topic_cleanup import ensure_topics

pytestmark = pytest.mark.integration


async def test_a_consumer_span_continues_the_producer_trace_across_kafka(kafka: str) -> None:
    exporter = InMemorySpanExporter()
    producing = start_tracing("ingress", exporter=exporter, batch=False)
    consuming = start_tracing("ledger", exporter=exporter, batch=False)
    topic = f"tracing-{uuid.uuid4().hex[:8]}"
    await ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka), [(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        with producing.span("POST /api/v1/chat/completions", kind="server") as request_span:
            assert request_span is not None
            headers = producing.headers()
            assert headers is not None and headers[0][0] == "traceparent"
            await producer.send_and_wait(topic, b"{}", key=b"k", headers=headers)
        record = await consumer.getone()
        with consuming.span("ledger admission", parent=consuming.context_of(record.headers), kind="consumer"):
            pass
    finally:
        await consumer.stop()
        await producer.stop()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    sent, received = spans["POST /api/v1/chat/completions"], spans["ledger admission"]
    assert received.context.trace_id == sent.context.trace_id
    assert received.parent is not None and received.parent.span_id == sent.context.span_id
    assert received.resource.attributes["service.name"] == "luntrex-ledger"


def test_tracing_is_off_unless_otel_asks_for_it() -> None:
    off = start_tracing("ingress", OtelSettings())
    assert not off.enabled
    assert off.headers() is None
    assert off.context_of([("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]) is None
    with off.span("anything") as span:
        assert span is None
    assert OtelSettings(traces_exporter="otlp").exporter() == "otlp"
    assert OtelSettings(exporter_otlp_endpoint="http://127.0.0.1:4318").exporter() == "otlp"
    assert OtelSettings(traces_exporter="none", exporter_otlp_endpoint="http://x").exporter() is None
    assert OtelSettings(traces_exporter="otlp", sdk_disabled=True).exporter() is None
    assert Tracing().headers_of(None) is None


def test_services_built_without_otel_load_no_sdk() -> None:
    """Off means no SDK pipeline at all: building the ingress app, the ledger and the worker telemetry imports
    no part of the OpenTelemetry SDK."""
    probe = (
        "import sys\n"
        "from ingress.app import create_app\n"
        "from ingress.settings import IngressSettings\n"
        "from ledger.app import create_ledger\n"
        "from ledger.settings import LedgerSettings\n"
        "create_app(IngressSettings())\n"
        "create_ledger(LedgerSettings())\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "print(','.join(loaded))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "LUNTREX_CATALOGUE_PATH": str(ROOT / "config" / "models.toml")}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert "opentelemetry.sdk" not in result.stdout, result.stdout
