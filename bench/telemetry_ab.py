"""Telemetry's cost on the sync path, measured as ratios within one run: `python -m bench.telemetry_ab`.

The machine is shared, so absolute figures drift from minute to minute; this bench runs the same pipeline
with telemetry off, with metrics on (the default; `/metrics` scraped every 5 s as Prometheus would) and with
traces on as well (OTLP to a local sink that discards), interleaved round by round (the order reversed
every other round), and reports each variant against the "off" run of the same round.

It runs its own services on the test Kafka and PostgreSQL (a database and topic prefix of its own, dropped
or left unused afterwards), never the dev stack. A 200 is a billed answer (billed before delivered), so
billed req/s is 200s per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench import adhoc, ledger_bench, procstat, wrk
from bench.machine import git_info, load_average, machine_info
from bench.runner import PIPELINE_MODEL, seed_body
from bench.workspace import BillingProbe
from runtime.kafka import ensure_topics
from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from stack.processes import FAKE_PROVIDER_API_KEYS
from stack.profiles import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "telemetry_ab.json"
START_TIMEOUT_S = 90.0
SCRAPE_INTERVAL_S = 5.0


class _Sink(ThreadingHTTPServer):
    """Takes OTLP exports and drops them (a collector's receiving end, no storage)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Part:
    """One service process of the bench's stack."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name, self.argv, self.env, self.workdir = name, argv, env, workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ready = self.workdir / f"{self.name}.ready"
        ready.unlink(missing_ok=True)
        with (self.workdir / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.argv],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, "LUNTREX_READY_FILE": str(ready)},
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.workdir}/{self.name}.log")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _scrape(urls: list[str], stop: asyncio.Event) -> int:
    """Scrape like Prometheus until stopped; returns the scrapes that failed (a slow answer under load)."""
    failed = 0
    async with httpx.AsyncClient(timeout=5) as http:
        while not stop.is_set():
            for url in urls:
                try:
                    (await http.get(url)).raise_for_status()
                except httpx.HTTPError:
                    failed += 1
            try:
                await asyncio.wait_for(stop.wait(), SCRAPE_INTERVAL_S)
            except TimeoutError:
                continue
    return failed


async def _variant(
    name: str, common: dict[str, str], sink: _Sink, args: argparse.Namespace, key: str
) -> dict[str, Any]:
    extra: dict[str, str] = {"LUNTREX_METRICS_ENABLED": "false"} if name == "off" else {}
    if name == "traces":
        extra |= {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint}
    ports = dict(zip(("ledger", "workers", "ingress"), adhoc.free_ports(3), strict=True))
    env = {**common, **extra}
    workdir = Path(common["BENCH_WORKDIR"])
    parts = [
        _Part("ledger", ["ledger"], {**env, "LUNTREX_METRICS_PORT": str(ports["ledger"])}, workdir),
        _Part("workers", ["workers"], {**env, "LUNTREX_METRICS_PORT": str(ports["workers"])}, workdir),
        _Part("ingress", ["ingress", "--port", str(ports["ingress"])], env, workdir),
    ]
    stop = asyncio.Event()
    scraper: asyncio.Task[int] | None = None
    try:
        for part in parts:
            await asyncio.to_thread(part.start)
        if name != "off":
            urls = [f"http://127.0.0.1:{port}/metrics" for port in ports.values()]
            scraper = asyncio.create_task(_scrape(urls, stop))
        url = f"http://127.0.0.1:{ports['ingress']}/api/v1/chat/completions"
        body, auth = seed_body(PIPELINE_MODEL), f"Bearer {key}"
        binary = wrk.ensure_wrk()
        await wrk.run(binary, wrk.Load(url, body, auth, connections=16, duration_s=args.warmup))
        cells = {}
        pids = [part.process.pid for part in parts if part.process is not None]
        for connections in args.concurrency:
            cpu_before_s = sum(procstat.process_cpu_s(pid) for pid in pids)
            result = await wrk.run(binary, wrk.Load(url, body, auth, connections=connections, duration_s=args.duration))
            cpu_s = sum(procstat.process_cpu_s(pid) for pid in pids) - cpu_before_s
            cells[str(connections)] = {
                # CPU of ingress, ledger and workers per billed request: far less sensitive to the other
                # sessions' load than throughput, and what bounds saturated throughput on a full machine.
                "cpu_ms_per_billed": round(cpu_s * 1000 / max(result.ok, 1), 3),
                "billed_per_s": round(result.ok / result.duration_s, 1),
                "p50_ms": result.latency_ms["p50"],
                "p99_ms": result.latency_ms["p99"],
                "errors": result.errors,
            }
        return cells
    finally:
        stop.set()
        try:
            if scraper is not None:
                await scraper
        finally:
            for part in reversed(parts):
                await asyncio.to_thread(part.stop)


def _summary(rounds: list[dict[str, Any]], concurrency: list[int]) -> dict[str, Any]:
    """Per variant and concurrency: the median over rounds of billed req/s ratio and p50 difference vs off."""
    summary: dict[str, Any] = {}
    for variant in ("metrics", "traces"):
        for connections in map(str, concurrency):
            ratios = [r[variant][connections]["billed_per_s"] / r["off"][connections]["billed_per_s"] for r in rounds]
            p50_deltas = [r[variant][connections]["p50_ms"] - r["off"][connections]["p50_ms"] for r in rounds]
            cpu_ratios = [
                r[variant][connections]["cpu_ms_per_billed"] / r["off"][connections]["cpu_ms_per_billed"]
                for r in rounds
            ]
            summary[f"{variant}_c{connections}"] = {
                "billed_ratio_median": round(statistics.median(ratios), 3),
                "billed_ratios": [round(r, 3) for r in ratios],
                "p50_delta_ms_median": round(statistics.median(p50_deltas), 3),
                "p50_deltas_ms": [round(d, 3) for d in p50_deltas],
                "cpu_per_billed_ratio_median": round(statistics.median(cpu_ratios), 3),
                "cpu_per_billed_ratios": [round(r, 3) for r in cpu_ratios],
            }
    return summary


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    database_url = ledger_bench.create_database(args.database_url)
    print(f"database {database_url.rsplit('/', 1)[1]} (dropped at the end)", flush=True)
    prefix = f"bab{uuid.uuid4().hex[:6]}."
    sink = _Sink()
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-telemetry-ab-"))
    fake_port = adhoc.free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    common = {
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": args.kafka,
        "LUNTREX_DATABASE_URL": database_url,
        "LUNTREX_TOPIC_PREFIX": prefix,
        "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
        "LUNTREX_PROVIDER_BASE_URLS": json.dumps(
            {
                "openai": f"{fake_url}/openai/v1",
                "anthropic": f"{fake_url}/anthropic",
                "gemini": f"{fake_url}/gemini",
                "llama": f"{fake_url}/openai/v1",
            }
        ),
        "BENCH_WORKDIR": str(workdir),
        **dict(FAKE_PROVIDER_API_KEYS),
    }
    settings = ServiceSettings(kafka_bootstrap_servers=args.kafka)
    await ensure_topics(settings, topic_plan(settings.load_catalogue(), prefix))
    fake = _Part("fakeprovider", ["fakeprovider", "--port", str(fake_port)], common, workdir)
    probe = BillingProbe(database_url)
    rounds: list[dict[str, Any]] = []
    load_before = load_average()
    try:
        await asyncio.to_thread(fake.start)
        workspace = await probe.create()
        order = ["off", "metrics", "traces"]
        for number in range(args.rounds):
            variants = order if number % 2 == 0 else list(reversed(order))
            results = {}
            for name in variants:
                if fake.process is None or fake.process.poll() is not None:
                    raise RuntimeError(f"the fake provider exited; see {workdir}/fakeprovider.log")
                results[name] = await _variant(name, common, sink, args, workspace.api_key)
                print(f"round {number + 1} {name}: {json.dumps(results[name])}", flush=True)
            rounds.append(results)
    finally:
        fake.stop()
        await probe.close()
        sink.shutdown()
        ledger_bench.drop_database(args.database_url, database_url)
    return {
        "machine": machine_info(),
        "git": git_info(),
        "load_average": {"before": load_before, "after": load_average()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": args.concurrency},
        "rounds": rounds,
        "summary": _summary(rounds, args.concurrency),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="127.0.0.1:29092", help="bootstrap servers (the test profile's)")
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://luntrex@127.0.0.1:25433/luntrex",
        help="a PostgreSQL the bench may create a database on (the test profile's)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=lambda text: [int(c) for c in text.split(",")], default=[1, 64])
    args = parser.parse_args(argv)
    document = asyncio.run(_run(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["summary"], indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
