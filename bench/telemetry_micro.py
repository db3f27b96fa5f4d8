"""CPU per request of the telemetry hooks themselves, in-process: `python -m bench.telemetry_micro`.

Each hook a request passes (the ingress middleware and its model label and result timer, the ledger's
admission and settlement batch observation, the worker's provider-call observation and job count) is run
many times with metrics off, metrics on, and metrics plus tracing (to an exporter that drops spans),
and its CPU time per call is reported. CPU time of this one thread is what other sessions' load moves
least; compare the sum with the pipeline's CPU per billed request (README, Benchmarks).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from bench.machine import git_info, load_average, machine_info
from ingress.metrics import IngressMetrics, Telemetry, TelemetryMiddleware
from ledger.settings import LedgerSettings
from ledger.telemetry import LedgerTelemetry
from runtime.settings import ServiceSettings
from runtime.tracing import Tracing, start_tracing
from schemas.events import JobFinished
from stack.profiles import REPO_ROOT
from workers.settings import WorkerSettings
from workers.telemetry import WorkerTelemetry

CALLS = 4_000
ROUNDS = 2
MODEL = "openai/gpt-4.1-mini"
RESULTS = REPO_ROOT / "bench" / "results" / "telemetry_micro.json"


class _Drop(SpanExporter):
    def export(self, _spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Route:
    path = "/api/v1/chat/completions"


async def _app(scope: Any, _receive: Any, send: Any) -> None:
    scope["route"] = _Route()
    scope.setdefault("state", {})["metrics_model"] = MODEL
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(_message: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def _ingress(metrics_on: bool, tracing: Tracing) -> Callable[[], Awaitable[None]]:
    catalogue = ServiceSettings().load_catalogue()
    middleware = TelemetryMiddleware(_app, Telemetry(IngressMetrics(catalogue) if metrics_on else None, tracing))
    headers = [(b"content-type", b"application/json"), (b"authorization", b"Bearer x")]

    async def one() -> None:
        scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers, "query_string": b""}
        await middleware(scope, _receive, _send)

    return one


def _ledger(metrics_on: bool, tracing: Tracing) -> Callable[[], Awaitable[None]]:
    telemetry = LedgerTelemetry(LedgerSettings(metrics_enabled=metrics_on), tracing)
    finished = JobFinished(workspace_id="ws", job_id="job_1", status="completed", model_id=MODEL, balance_left=0)
    headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]

    async def one() -> None:
        # A job passes admission and settlement once each.
        for _stage in ("admission", "settlement"):
            with telemetry.batch(_stage, [("job_1", headers)]) as observed:
                observed.traced([])
                observed.admitted([("dispatch", None)])
                observed.settled([finished.status])

    return one


def _workers(metrics_on: bool, tracing: Tracing) -> Callable[[], Awaitable[None]]:
    settings = WorkerSettings(metrics_enabled=metrics_on)
    telemetry = WorkerTelemetry(settings, settings.load_catalogue(), tracing)

    async def one() -> None:
        with tracing.span("worker openai", kind="consumer"):
            with telemetry.call("openai", MODEL):
                pass
            tracing.headers()
        if telemetry.metrics is not None:
            telemetry.metrics.jobs.labels("openai", "completed").inc()

    return one


async def _measure(one: Callable[[], Awaitable[None]]) -> float:
    for _ in range(1000):
        await one()
    started = _cpu_s()
    for _ in range(CALLS):
        await one()
    return (_cpu_s() - started) / CALLS * 1e6


async def _main() -> dict[str, Any]:
    variants = {
        "off": (False, Tracing()),
        "metrics": (True, Tracing()),
        "metrics+traces": (True, start_tracing("bench", exporter=_Drop())),
    }
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(ROUNDS):
        for name, (metrics_on, tracing) in variants.items():
            for hook, build in (("ingress", _ingress), ("ledger", _ledger), ("workers", _workers)):
                cost_us = await _measure(build(metrics_on, tracing))
                results.setdefault(name, {}).setdefault(hook, []).append(round(cost_us, 2))
    return {
        "calls_per_measure": CALLS,
        "us_cpu_per_request": {
            name: {hook: min(values) for hook, values in hooks.items()} for name, hooks in results.items()
        },
        "all_rounds": results,
    }


def main() -> int:
    load_before = load_average()
    document = asyncio.run(_main())
    document = {
        "machine": machine_info(),
        "git": git_info(),
        "load_average": {"before": load_before, "after": load_average()},
        **document,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["us_cpu_per_request"], indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
