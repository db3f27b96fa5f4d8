"""``python -m bench edge``: CPU per request of each service at c=1 and per stream, idle CPU, and the hops.

Runs the fake provider, the ledger, the workers and ingress from a checkout (`--root`, default this one) on a
Kafka and a PostgreSQL that already run (`--services BOOTSTRAP,ADMIN_DATABASE_URL`, as `bench/adhoc.py` does),
so two checkouts can be compared in alternation on the same machine without the dev stack. In order:
- idle: each service's CPU over `--idle-s` seconds with no load (what consumers' long polls and timers cost);
- c=1: `--requests` sync completions one after another (after 40 of warm-up): the client's p50, each service's
  CPU per request from /proc, and the hop means from the services' metrics (rows of `python -m bench hops`);
- streams: `--streams` streamed completions one after another on the OpenAI surface (fake `stream_chunk_ms`
  5, `max_tokens` 64): time to first token against the fake's own, and each service's CPU per stream.
On a shared machine trust the CPU figures over the wall times, and alternate the checkouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import adhoc, machine, procstat, report
from bench.hops import PATH, mean_ms, scrape
from bench.streaming import _body, one_stream
from bench.workspace import BillingProbe
from runtime.metrics import Samples
from stack.profiles import REPO_ROOT

BODY = {
    "model": "openai/gpt-4.1-mini",
    "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}],
    "max_tokens": 512,
}
WARMUP_REQUESTS = 40


class _Services(adhoc.AdhocServices):
    """The bench's services with a metrics port each for the ledger and the workers."""

    metrics_ports: dict[str, int]

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        if name in self.metrics_ports:
            env = {**env, "LUNTREX_METRICS_PORT": str(self.metrics_ports[name])}
        super()._start(name, argv, env)

    def cpu_s(self) -> dict[str, float]:
        return procstat.cpu_by_part({name: process.pid for name, process in self._processes.items()})


def _per(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """CPU ms per unit of each service between two readings."""
    return {name: round((after[name] - before[name]) / count * 1000, 3) for name in after}


async def _scrape_all(http: httpx.AsyncClient, urls: list[str]) -> Samples:
    samples: Samples = {}
    for url in urls:
        samples |= await scrape(http, url)
    return samples


async def run(services: _Services, arguments: argparse.Namespace) -> dict[str, Any]:
    probe = BillingProbe(services.database_url)
    try:
        workspace = await probe.create()
        headers = {"authorization": f"Bearer {workspace.api_key}"}
        urls = [
            services.base_url.rsplit("/api/", 1)[0] + "/metrics",
            *(f"http://127.0.0.1:{port}/metrics" for port in services.metrics_ports.values()),
        ]
        result: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=services.base_url, timeout=60) as http:
            for _ in range(WARMUP_REQUESTS):
                (await http.post("/chat/completions", json=BODY, headers=headers)).raise_for_status()
            idle_before = services.cpu_s()
            await asyncio.sleep(arguments.idle_s)
            idle_after = services.cpu_s()
            result["idle_cpu_ms_per_s"] = {
                name: round((idle_after[name] - idle_before[name]) * 1000 / arguments.idle_s, 2) for name in idle_after
            }
            before = await _scrape_all(http, urls)
            before_cpu, latencies = services.cpu_s(), list[float]()
            for _ in range(arguments.requests):
                started = time.perf_counter()
                (await http.post("/chat/completions", json=BODY, headers=headers)).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
            after_cpu = services.cpu_s()
            await asyncio.sleep(0.5)  # the last settlement's publication is observed after its result went out
            after = await _scrape_all(http, urls)
            result["c1"] = {
                "latency_ms_p50": round(statistics.median(latencies), 3),
                "cpu_ms_per_request": _per(before_cpu, after_cpu, arguments.requests),
                "hops_mean_ms": {what: mean_ms(before, after, *rest)[0] for what, *rest in PATH},
            }
        if arguments.streams:
            result["streams"] = await _streams(services, workspace.api_key, arguments.streams)
        return result
    finally:
        await probe.close()


async def _streams(services: _Services, api_key: str, count: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        direct_url = f"{services.fake_provider_url}/openai/v1/chat/completions"
        direct = [await one_stream(client, direct_url, "sk-bench", _body("gpt-4.1-mini", 5, 64)) for _ in range(60)]
        before_cpu = services.cpu_s()
        pipeline_url = f"{services.base_url}/openai/chat/completions"
        body = _body("openai/gpt-4.1-mini", 5, 64)
        streams = [await one_stream(client, pipeline_url, api_key, body) for _ in range(count)]
        after_cpu = services.cpu_s()
    direct_p50 = statistics.median(s["ttft_ms"] for s in direct if s.get("ttft_ms") is not None)
    firsts = [s["ttft_ms"] for s in streams if s.get("ttft_ms") is not None]
    pipeline_p50 = statistics.median(firsts) if firsts else None
    return {
        "completed": len(firsts),
        "ttft_ms_p50_direct": round(direct_p50, 3),
        "ttft_ms_p50_pipeline": round(pipeline_p50, 3) if pipeline_p50 is not None else None,
        "ttft_overhead_ms_p50": round(pipeline_p50 - direct_p50, 3) if pipeline_p50 is not None else None,
        "cpu_ms_per_stream": _per(before_cpu, after_cpu, count),
    }


async def run_and_report(
    bench: str,
    services: _Services,
    arguments: argparse.Namespace,
    command: str,
    measure: Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any]]],
    *,
    also_start: Sequence[tuple[str, str]] = (),
) -> int:
    """Start `services` (and `also_start`: (name, module) pairs) on the given Kafka and PostgreSQL, `measure`
    them, stop them, and write bench/results/<arguments.name>.json with the machine's load around the run."""
    services.metrics_ports = dict(zip(("ledger", "workers"), adhoc.free_ports(2), strict=True))
    load_before = machine.load_average()
    try:
        await services.start()
        for name, module in also_start:
            services.start_more(name, module)
        result = await measure(services, arguments)
    finally:
        services.stop()
    document = {
        "bench": bench,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "root": str(arguments.root),
        "machine": {
            **machine.machine_info(),
            "load_average_before": load_before,
            "load_average_after": machine.load_average(),
        },
        **result,
    }
    print(json.dumps(result, indent=1))
    print(f"wrote {report.write(arguments.name, document)}")
    return 0


async def _main(arguments: argparse.Namespace, command: str) -> int:
    kafka, admin_url = arguments.services.split(",", 1)
    services = _Services(kafka=kafka, admin_database_url=admin_url, root=arguments.root)
    return await run_and_report("edge", services, arguments, command, run)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench edge", description=__doc__.splitlines()[0])
    parser.add_argument("--services", required=True, help="KAFKA_BOOTSTRAP,ADMIN_DATABASE_URL of running servers")
    parser.add_argument("--root", default=str(REPO_ROOT), help="the checkout whose services run (default: this)")
    parser.add_argument("--requests", type=int, default=600, help="sync requests at c=1 (default 600)")
    parser.add_argument("--streams", type=int, default=100, help="streams one after another (default 100; 0: none)")
    parser.add_argument("--idle-s", type=float, default=20.0, help="seconds of idle CPU reading (default 20)")
    parser.add_argument("--name", default="edge", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    arguments.root = Path(arguments.root).resolve()
    return asyncio.run(_main(arguments, " ".join(["python -m bench edge", *argv])))
