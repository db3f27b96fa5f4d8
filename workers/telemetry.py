"""The workers' metrics and traces: provider calls by provider, model and outcome, retries, fallbacks, jobs.

`execute` reports each provider call, retry and fallback here; the pool opens one span per job (child of the
ledger's hold span, from the dispatch record's headers) and publishes usage with that span's context.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runtime import metrics as prom
from runtime.lag import LagMonitor
from runtime.tracing import Tracing
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, UsageRecorded
from workers.providers import errors as provider_codes
from workers.providers.base import ProviderError
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)

OK = "ok"
# Every code a provider failure carries: the job codes and the provider-specific ones; anything else is bounded.
_OUTCOMES = frozenset(code.value for code in ErrorCode) | {
    value for name, value in vars(provider_codes).items() if name.isupper() and isinstance(value, str)
}


class WorkerMetrics:
    def __init__(self, catalogue: Catalogue, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prom.new_registry()
        self.model = prom.ModelLabel(catalogue)
        self.providers = frozenset(catalogue.providers)
        ns, reg = prom.NAMESPACE, self.registry
        self.calls = Counter(
            "provider_calls", "Provider calls, by provider, model and outcome (ok, or the failure's code)",
            ["provider", "model", "outcome"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.call_duration = Histogram(
            "provider_call_duration_seconds", "Provider call latency, by provider, model and outcome",
            ["provider", "model", "outcome"], namespace=ns, buckets=prom.LATENCY_BUCKETS_S, registry=reg,
        )  # fmt: skip
        self.retries = Counter(
            "provider_retries", "Provider calls retried on the same model after a retriable failure",
            ["provider", "model"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.fallbacks = Counter(
            "fallbacks", "Jobs moved on to the next model of their route, by the model given up",
            ["model"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.jobs = Counter(
            "worker_jobs", "Jobs a pool finished, by pool and outcome (completed, failed, expired)",
            ["pool", "outcome"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.in_flight = Gauge(
            "worker_jobs_in_flight", "Jobs a pool is running now", ["pool"], namespace=ns, registry=reg
        )
        self.dead_letters = Counter(
            "dead_letters", "Events refused permanently and dead-lettered, by consumer", ["consumer"],
            namespace=ns, registry=reg,
        )  # fmt: skip
        self.early_starts = Counter(
            "worker_early_starts", "Early starts (workers/early_start.py), by pool and what became of them: claimed by "
            "their dispatch, unclaimed or revoked (cancelled), or not started (stale, full, dispatched, unreadable, "
            "mismatch)",
            ["pool", "outcome"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.consumer_lag = prom.consumer_lag_gauge(reg)
        self.record_age = prom.record_age_histogram(reg)
        self.publish_duration = prom.publish_histogram(reg)


class WorkerTelemetry:
    """What the pools and `execute` report to; every method is cheap, and does nothing for what is off."""

    def __init__(self, settings: WorkerSettings, catalogue: Catalogue, tracing: Tracing) -> None:
        self.settings = settings
        self.tracing = tracing
        self.metrics = WorkerMetrics(catalogue) if settings.metrics_enabled else None
        self._server: Any = None

    def serve(self) -> None:
        if self.metrics is not None and self.settings.metrics_port is not None:
            self._server = prom.serve(self.metrics.registry, self.settings.metrics_host, self.settings.metrics_port)

    def close(self) -> None:
        prom.stop(self._server)
        self._server = None
        self.tracing.shutdown()

    def lag_monitor(self, groups: list[str]) -> LagMonitor | None:
        if self.metrics is None:
            return None
        return LagMonitor(self.settings, lambda: groups, self.metrics.consumer_lag)

    @contextlib.contextmanager
    def call(self, provider: str, model_id: str) -> Iterator[None]:
        """One provider call: its latency and outcome, and a client span when tracing is on."""
        started = time.perf_counter()
        outcome = OK
        with self.tracing.span(
            f"provider {provider}", kind="client", attributes={"luntrex.provider": provider, "luntrex.model": model_id}
        ) as span:
            try:
                yield
            except ProviderError as error:
                outcome = prom.bounded(error.code, _OUTCOMES, ErrorCode.UPSTREAM_ERROR.value)
                if span is not None:
                    span.set_attribute("luntrex.outcome", outcome)
                raise
            except BaseException:
                outcome = "exception"
                raise
            finally:
                if self.metrics is not None:
                    labels = (prom.bounded(provider, self.metrics.providers), self.metrics.model(model_id), outcome)
                    self.metrics.calls.labels(*labels).inc()
                    self.metrics.call_duration.labels(*labels).observe(time.perf_counter() - started)

    def retried(self, provider: str, model_id: str) -> None:
        if self.metrics is not None:
            self.metrics.retries.labels(
                prom.bounded(provider, self.metrics.providers), self.metrics.model(model_id)
            ).inc()

    def fell_back(self, model_id: str) -> None:
        if self.metrics is not None:
            self.metrics.fallbacks.labels(self.metrics.model(model_id)).inc()

    def taken(self, consumer: str, timestamp_ms: int) -> None:
        """A dispatch taken up by a pool's lane: its age since the ledger produced it."""
        if self.metrics is not None:
            prom.observe_age(self.metrics.record_age, consumer, timestamp_ms, time.time())

    @contextlib.contextmanager
    def publishing(self, producer: str) -> Iterator[None]:
        """A job's usage event, until the broker acknowledged it."""
        started = time.perf_counter()
        yield
        if self.metrics is not None:
            self.metrics.publish_duration.labels(producer).observe(time.perf_counter() - started)

    def job_finished(self, pool: str, job: ChatJobDispatched, usage: UsageRecorded) -> None:
        if self.metrics is not None:
            self.metrics.jobs.labels(pool, usage.outcome).inc()
        if self.settings.log_payloads:
            # A debugging aid the operator turned on (LUNTREX_LOG_PAYLOADS); off, no prompt or answer is logged.
            prompt = [message.model_dump() for message in job.params.messages]
            log.info("job %s payload: prompt %s answer %r", job.job_id, prompt, usage.answer)

    def early_start(self, pool: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.early_starts.labels(pool, outcome).inc()

    def dead_lettered(self, consumer: str) -> None:
        if self.metrics is not None:
            self.metrics.dead_letters.labels(consumer).inc()
