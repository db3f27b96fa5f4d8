"""The ledger's metrics and traces: batch sizes, admissions, refusals, settlements, holds outstanding, lag.

Hooked into the two stages (`ledger/app.py`) with one `with telemetry.batch(...)` each. Holds outstanding and
consumer lag are sampled on a timer (`LUNTREX_METRICS_SAMPLE_INTERVAL_S`), so a scrape never queries
PostgreSQL or Kafka. With tracing on, each job of a batch gets its own span (child of the span that
published its event), and the records the batch publishes for a job carry that span's context.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.publisher import Record
from ledger.settings import LedgerSettings
from runtime import metrics as prom
from runtime.lag import LagMonitor
from runtime.tracing import Tracing
from schemas import topics
from schemas.errors import ErrorCode
from schemas.events import JobFinished

log = logging.getLogger(__name__)

# Index-backed (jobs_queued_since is partial on status = 'queued'): bounded by the jobs running now.
_HOLDS_OUTSTANDING = text(
    "SELECT count(*) AS holds, CAST(coalesce(sum(hold_tokens), 0) AS bigint) AS tokens "
    "FROM jobs WHERE status = 'queued'"
)
_CODES = frozenset(code.value for code in ErrorCode)


class LedgerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prom.new_registry()
        ns, reg = prom.NAMESPACE, self.registry
        self.batch_size = Histogram(
            "ledger_batch_size", "Events per ledger batch (one database transaction)", ["stage"],
            namespace=ns, buckets=prom.BATCH_SIZE_BUCKETS, registry=reg,
        )  # fmt: skip
        self.batch_duration = Histogram(
            "ledger_batch_duration_seconds", "Time to run one ledger batch, publication included", ["stage"],
            namespace=ns, buckets=prom.LATENCY_BUCKETS_S, registry=reg,
        )  # fmt: skip
        self.admissions = Counter(
            "ledger_admissions", "Submitted jobs admitted (dispatched with a hold) or refused, by outcome", ["outcome"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.refusals = Counter(
            "ledger_refusals", "Jobs refused at admission, by error code (rate_limit_exceeded: a rate limit)", ["code"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.settlements = Counter(
            "ledger_settlements", "Jobs settled (debited, or their hold released), by final status", ["status"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.holds = Gauge(
            "ledger_holds_outstanding", "Jobs holding credit now (queued or running)", namespace=ns, registry=reg
        )
        self.held_tokens = Gauge(
            "ledger_held_tokens", "Credit tokens held by running jobs now", namespace=ns, registry=reg
        )
        self.dead_letters = Counter(
            "dead_letters", "Events refused permanently and dead-lettered, by consumer", ["consumer"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.webhook_deliveries = Counter(
            "webhook_deliveries", "Finance webhook deliveries that succeeded", namespace=ns, registry=reg
        )
        self.consumer_lag = prom.consumer_lag_gauge(reg)
        self.record_age = prom.record_age_histogram(reg)
        self.publish_duration = prom.publish_histogram(reg)


@dataclasses.dataclass(slots=True)
class BatchObservation:
    """One batch being observed: its per-job spans (tracing on) and what it decided."""

    metrics: LedgerMetrics | None
    tracing: Tracing
    spans: dict[bytes, Any]

    def traced(self, records: list[Record]) -> list[Record]:
        """The records, each carrying its job's span context (unchanged when tracing is off)."""
        if not self.spans:
            return records
        return [
            dataclasses.replace(record, headers=self.tracing.headers_of(self.spans.get(record.key or b"")))
            if record.key in self.spans
            else record
            for record in records
        ]

    def admitted(self, outcomes: Sequence[object]) -> None:
        if self.metrics is None:
            return
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                self.metrics.admissions.labels("dispatched").inc()
            elif isinstance(outcome, JobFinished):
                self.metrics.admissions.labels(outcome.status).inc()
                if outcome.error is not None:
                    self.metrics.refusals.labels(prom.bounded(outcome.error.code, _CODES)).inc()
            else:
                self.metrics.admissions.labels("replayed").inc()

    def settled(self, statuses: Sequence[str]) -> None:
        """Count the settled jobs by final status."""
        if self.metrics is None:
            return
        for status in statuses:
            self.metrics.settlements.labels(status).inc()


class LedgerTelemetry:
    def __init__(self, settings: LedgerSettings, tracing: Tracing) -> None:
        self.settings = settings
        self.tracing = tracing
        self.metrics = LedgerMetrics() if settings.metrics_enabled else None
        self._lag = (
            LagMonitor(settings, lambda: [settings.ledger_app_id], self.metrics.consumer_lag)
            if self.metrics is not None
            else None
        )

    def serve(self) -> None:
        """`/metrics` on `LUNTREX_METRICS_PORT` (nothing when metrics are off or no port is set)."""
        if self.metrics is not None and self.settings.metrics_port is not None:
            prom.serve(self.metrics.registry, self.settings.metrics_host, self.settings.metrics_port)

    @contextlib.contextmanager
    def batch(self, stage: str, jobs: Sequence[tuple[str, Any]]) -> Iterator[BatchObservation]:
        """Observe one batch of `(job_id, record headers)`: its size, its time, one span per job."""
        started = time.perf_counter()
        spans: dict[bytes, Any] = {}
        if self.tracing.enabled:
            for job_id, headers in jobs:
                span = self.tracing.start_span(
                    f"ledger {stage}", parent=self.tracing.context_of(_pairs(headers)), kind="consumer"
                )
                if span is not None:
                    span.set_attribute("luntrex.job_id", job_id)
                    span.set_attribute("luntrex.batch_size", len(jobs))
                    spans[topics.job_key(job_id)] = span
        try:
            yield BatchObservation(self.metrics, self.tracing, spans)
        finally:
            for span in spans.values():
                span.end()
            if self.metrics is not None:
                self.metrics.batch_size.labels(stage).observe(len(jobs))
                self.metrics.batch_duration.labels(stage).observe(time.perf_counter() - started)

    def taken(self, stage: str, timestamps_s: Sequence[float]) -> None:
        """A batch's events taken up by `stage`: each one's age since it was produced (Faust gives seconds)."""
        if self.metrics is not None:
            now_s = time.time()
            for timestamp_s in timestamps_s:
                prom.observe_age(self.metrics.record_age, f"ledger.{stage}", timestamp_s * 1000, now_s)

    @contextlib.contextmanager
    def publishing(self, stage: str) -> Iterator[None]:
        """A stage's publication of a batch's outcomes, until the broker acknowledged them all."""
        started = time.perf_counter()
        yield
        if self.metrics is not None:
            self.metrics.publish_duration.labels(f"ledger.{stage}").observe(time.perf_counter() - started)

    def dead_lettered(self, consumer: str) -> None:
        if self.metrics is not None:
            self.metrics.dead_letters.labels(consumer).inc()

    def webhooks_delivered(self, delivered: int) -> None:
        if self.metrics is not None and delivered:
            self.metrics.webhook_deliveries.inc(delivered)

    async def sample(self, engine: AsyncEngine) -> None:
        """Refresh holds outstanding and consumer lag; a failure is logged, never raised (metrics must not
        stop the ledger)."""
        if self.metrics is None:
            return
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(_HOLDS_OUTSTANDING)).one()
            self.metrics.holds.set(row.holds)
            self.metrics.held_tokens.set(row.tokens)
            if self._lag is not None:
                await self._lag.sample()
        except Exception as error:  # noqa: BLE001 - a metric's failure must never stop the ledger: said, then next tick
            log.warning("sampling ledger metrics failed (%s: %s)", type(error).__name__, error)


def _pairs(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(name), value if isinstance(value, bytes) else str(value).encode()) for name, value in items]
