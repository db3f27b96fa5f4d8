"""Prometheus plumbing every service shares: one registry per process, its exposition, a port, bounded labels.

Each service defines its own metrics (`ingress/metrics.py`, `ledger/metrics.py`, `workers/metrics.py`) in a
registry built here and passed down; nothing registers into prometheus-client's global registry. Each
process exposes only its own registry (several processes of one service each get their own port, and
Prometheus sums over them), so no state is shared between processes.

Label values are bounded: route templates (never paths), model ids of the catalogue (anything else is
`other`), error codes from the one error table, pool, provider, stage and consumer-group names. No job id,
workspace id, key or text from a caller is ever a label.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

from schemas.catalogue import Catalogue

log = logging.getLogger(__name__)

NAMESPACE = "luntrex"
# Seconds, from a sub-millisecond hop to a long provider call.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Finer at the low end: on loopback a Kafka hop takes about a millisecond and a publication under one.
HOP_BUCKETS_S = (
    0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 30.0,
)  # fmt: skip
# Events per batch: powers of two up to the largest batch the ledger takes.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
OTHER = "other"
NONE = "none"


def new_registry() -> CollectorRegistry:
    """A process's own registry, with the process collector (CPU seconds, resident memory, open files)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(namespace=NAMESPACE, registry=registry)
    return registry


def record_age_histogram(registry: CollectorRegistry) -> Histogram:
    """Each consumer's view of its hop: now minus the record's Kafka timestamp (the producer's clock at `send`),
    observed when the consumer takes the record up. On one host (or clock-synchronised hosts) its sum over a
    request's hops is the time the request spent between services; a negative age (clock skew) counts as 0."""
    return Histogram(
        "kafka_record_age_seconds",
        "Time from a record's production (its Kafka timestamp) to its consumer taking it up, by consumer",
        ["consumer"],
        namespace=NAMESPACE,
        buckets=HOP_BUCKETS_S,
        registry=registry,
    )


def publish_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "kafka_publish_duration_seconds",
        "Time from handing records to the producer to the broker's acknowledgement of them all, by producer",
        ["producer"],
        namespace=NAMESPACE,
        buckets=HOP_BUCKETS_S,
        registry=registry,
    )


def observe_age(histogram: Histogram | None, consumer: str, timestamp_ms: int | float, now_s: float) -> None:
    """One record taken up by `consumer`: its age from its Kafka timestamp in milliseconds."""
    if histogram is not None:
        histogram.labels(consumer).observe(max(0.0, now_s - timestamp_ms / 1000))


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    """A `/metrics` page read as Prometheus reads it: every sample by (sample name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus's text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(registry: CollectorRegistry, host: str, port: int) -> WSGIServer | None:
    """Serve `/metrics` on a port of its own from a daemon thread (the ledger's and the workers' endpoint).

    A port already taken (a second replica started with the same settings) costs the endpoint, loudly, never
    the service: metrics must not stop the ledger or the workers."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.error("metrics endpoint %s:%d not served (%s); set LUNTREX_METRICS_PORT per process", host, port, error)
        return None
    return server


def stop(server: WSGIServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


class ModelLabel:
    """A model name as a label: its catalogue id (an alias resolves to it), `other` for anything unknown, so
    a caller sending made-up model names cannot create series."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str | None) -> str:
        if not name:
            return NONE
        known = self._known.get(name)
        if known is not None:
            return known
        model = self._catalogue.resolve(name)
        if model is None:
            return OTHER
        with self._lock:
            self._known[name] = model.id
        return model.id


def bounded(value: str | None, allowed: Iterable[str], default: str = OTHER) -> str:
    """`value` when it is one of `allowed`, else `default`."""
    if value is None:
        return NONE
    return value if value in allowed else default


def consumer_lag_gauge(registry: CollectorRegistry) -> Gauge:
    return Gauge(
        "kafka_consumer_lag",
        "Records in a partition not yet committed by a consumer group (log end offset - committed offset)",
        ["group", "topic", "partition"],
        namespace=NAMESPACE,
        registry=registry,
    )
