"""``python -m bench hops``: where a synchronous request's time goes at concurrency 1, hop by hop.

Sends `--requests` chat completions one after another through the dev stack (fake provider at 0 ms) and
reads the services' own metrics before and after, so the figures are the pipeline's, not a profiler's:
- each Kafka hop: `luntrex_kafka_record_age_seconds` (a record's production to its consumer taking it up);
- each publication: `luntrex_kafka_publish_duration_seconds` (to the broker's acknowledgement);
- the ledger's two stages (`luntrex_ledger_batch_duration_seconds`, publication included) and the workers'
  provider call (`luntrex_provider_call_duration_seconds`).
Means over the run (histogram sums over counts). Beside them, in the same run, two floors measured with the
same client libraries on the same broker and fake: a bare aiokafka round trip (send with acks=all, then
consume) on a topic of its own, and a bare httpx call to the fake (with httpx's own transport and with the
workers' aiohttp one). The request's end-to-end p50 is the client's. Everything runs on one host, so record
timestamps and the consumers' clocks agree.

Compare like with like (both measured 2026-12-02, see README "Benchmarks"):
- A hop row is a record's age as the metric reads it: the consumer's clock minus the record's Kafka timestamp,
  which is whole milliseconds (the producer's clock truncated), so it reads ~0.5 ms more than the hop took.
  The floor's `record_age_ms_mean` is the bare round trip read the same way; `send_to_consume_ms_p50` is the
  true time, from a monotonic clock.
- At c=1 every process sleeps between requests, and a call after ~15 ms of idleness costs about twice the CPU
  and wall time of the same call in a tight loop (cold caches, idle CPUs). The floors pause `--floor-gap-ms`
  between rounds (default 15, about one c=1 request) for that reason; 0 gives the tight-loop figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import machine, report, stackctl
from bench.workspace import BillingProbe
from runtime.metrics import Samples, parse_exposition
from stack.processes import LEDGER_METRICS_PORT, WORKERS_METRICS_PORT

MODEL = "openai/gpt-4.1-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}]}
WORKER_LANE = "workers.openai.interactive"

# The sync path in order: (what, metric family without suffix, label name, label value).
PATH: tuple[tuple[str, str, str, str], ...] = (
    ("ingress publishes the job (to ack)", "luntrex_kafka_publish_duration_seconds", "producer", "ingress.jobs"),
    ("hop: jobs.submitted -> ledger", "luntrex_kafka_record_age_seconds", "consumer", "ledger.admission"),
    ("ledger admission (batch, publication incl.)", "luntrex_ledger_batch_duration_seconds", "stage", "admission"),
    ("  of which: publish dispatch (to ack)", "luntrex_kafka_publish_duration_seconds", "producer", "ledger.admission"),
    ("hop: dispatch -> worker", "luntrex_kafka_record_age_seconds", "consumer", WORKER_LANE),
    ("provider call (fake, 0 ms)", "luntrex_provider_call_duration_seconds", "provider", "openai"),
    ("worker publishes usage (to ack)", "luntrex_kafka_publish_duration_seconds", "producer", WORKER_LANE),
    ("hop: jobs.usage -> ledger", "luntrex_kafka_record_age_seconds", "consumer", "ledger.settlement"),
    ("ledger settlement (batch, publication incl.)", "luntrex_ledger_batch_duration_seconds", "stage", "settlement"),
    ("  of which: publish result (to ack)", "luntrex_kafka_publish_duration_seconds", "producer", "ledger.settlement"),
    ("hop: jobs.results -> ingress", "luntrex_kafka_record_age_seconds", "consumer", "ingress.results"),
)  # fmt: skip


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url)
    response.raise_for_status()
    return parse_exposition(response.text)


def _total(samples: Samples, name: str, label: str, wanted: str) -> float:
    return sum(v for (sample, labels), v in samples.items() if sample == name and (label, wanted) in labels)


def mean_ms(before: Samples, after: Samples, family: str, label: str, wanted: str) -> tuple[float | None, int]:
    """The family's mean in ms over what happened between the two scrapes, and how many observations."""
    count = _total(after, f"{family}_count", label, wanted) - _total(before, f"{family}_count", label, wanted)
    total_s = _total(after, f"{family}_sum", label, wanted) - _total(before, f"{family}_sum", label, wanted)
    return (round(total_s / count * 1000, 3) if count else None), int(count)


async def kafka_floor(bootstrap: str, rounds: int, gap_s: float = 0.0) -> dict[str, float]:
    """A bare round trip on the same broker: send (acks=all, idempotent, linger 0) and consume it back, `gap_s`
    apart; also each record's age as `luntrex_kafka_record_age_seconds` reads it (its millisecond timestamp)."""
    topic = f"bench-hops-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 8, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await producer.start()
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, partition) for partition in range(8)])
            await consumer.seek_to_end()
            acks: list[float] = []
            trips: list[float] = []
            ages: list[float] = []
            for index in range(rounds):
                if gap_s:
                    await asyncio.sleep(gap_s)
                started = time.perf_counter()
                await producer.send_and_wait(topic, b"x" * 512, key=str(index).encode())
                acked = time.perf_counter()
                record = await consumer.getone()
                ages.append((time.time() - record.timestamp / 1000) * 1000)
                acks.append((acked - started) * 1000)
                trips.append((time.perf_counter() - started) * 1000)
        finally:
            await producer.stop()
            await consumer.stop()
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    return {
        "publish_ack_ms_p50": round(statistics.median(acks), 3),
        "send_to_consume_ms_p50": round(statistics.median(trips), 3),
        "send_to_consume_ms_mean": round(statistics.fmean(trips), 3),
        "record_age_ms_mean": round(statistics.fmean(ages), 3),
    }


async def provider_floor(fake_url: str, rounds: int, gap_s: float = 0.0, *, aiohttp: bool = False) -> float:
    """A bare httpx call to the fake's OpenAI route, as a worker's call would be without the pipeline, `gap_s`
    apart; `aiohttp`: over the workers' transport (httpx-aiohttp) instead of httpx's own."""
    body = {**BODY, "model": "gpt-4.1-mini"}
    latencies: list[float] = []
    transport: httpx.AsyncBaseTransport | None = None
    if aiohttp:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport()
    async with httpx.AsyncClient(timeout=30, transport=transport) as http:
        for _ in range(rounds):
            if gap_s:
                await asyncio.sleep(gap_s)
            started = time.perf_counter()
            response = await http.post(
                f"{fake_url}/openai/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-bench"}
            )
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(latencies), 3)


async def run(
    session: stackctl.StackSession, probe: BillingProbe, requests: int, floor_gap_s: float = 0.015
) -> dict[str, Any]:
    workspace = await probe.create()
    urls = {
        "ingress": session.base_url.rsplit("/api/", 1)[0] + "/metrics",
        "ledger": f"http://127.0.0.1:{LEDGER_METRICS_PORT}/metrics",
        "workers": f"http://127.0.0.1:{WORKERS_METRICS_PORT}/metrics",
    }
    headers = {"authorization": f"Bearer {workspace.api_key}"}
    async with httpx.AsyncClient(base_url=session.base_url, timeout=60) as http:
        for _ in range(20):  # warm-up: connections, caches, the key directory
            (await http.post("/chat/completions", json=BODY, headers=headers)).raise_for_status()
        await asyncio.sleep(0.5)
        before: Samples = {}
        for url in urls.values():
            before |= await scrape(http, url)
        latencies: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            response = await http.post("/chat/completions", json=BODY, headers=headers)
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.5)  # the last settlement's publication is observed after its result went out
        after: Samples = {}
        for url in urls.values():
            after |= await scrape(http, url)
    rows = []
    for what, family, label, wanted in PATH:
        mean, count = mean_ms(before, after, family, label, wanted)
        rows.append({"what": what, "metric": family, label: wanted, "mean_ms": mean, "observations": count})
    return {
        "requests": requests,
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "latency_ms_mean": round(statistics.fmean(latencies), 3),
        "path": rows,
        "floors": {
            "gap_ms": round(floor_gap_s * 1000, 1),
            **await kafka_floor(session.env["KAFKA_BOOTSTRAP_SERVERS"], 200, floor_gap_s),
            "fake_provider_httpx_ms_p50": await provider_floor(session.fake_provider_url, 200, floor_gap_s),
            "fake_provider_httpx_aiohttp_ms_p50": await provider_floor(
                session.fake_provider_url, 200, floor_gap_s, aiohttp=True
            ),
        },
        # The same floors with no pause between rounds: the processes stay awake, so the difference from the
        # paced floors is what waking idle processes costs on this machine (none of it is the pipeline's).
        "floors_back_to_back": {
            **await kafka_floor(session.env["KAFKA_BOOTSTRAP_SERVERS"], 200, 0.0),
            "fake_provider_httpx_ms_p50": await provider_floor(session.fake_provider_url, 200, 0.0),
        },
    }


def print_table(document: dict[str, Any]) -> None:
    print(f"sync request at c=1, {document['requests']} requests: p50 {document['latency_ms_p50']} ms")
    for row in document["path"]:
        mean = "-" if row["mean_ms"] is None else f"{row['mean_ms']:7.3f} ms"
        print(f"  {row['what']:48s} {mean}  (n={row['observations']})")
    floors = document["floors"]
    print(
        f"floors ({floors['gap_ms']} ms apart): bare aiokafka ack {floors['publish_ack_ms_p50']} ms, send->consume "
        f"p50 {floors['send_to_consume_ms_p50']} ms (mean {floors['send_to_consume_ms_mean']}), its record age as "
        f"the hop rows read it {floors['record_age_ms_mean']} ms (mean); bare httpx call to the fake "
        f"{floors['fake_provider_httpx_ms_p50']} ms (aiohttp transport "
        f"{floors['fake_provider_httpx_aiohttp_ms_p50']} ms)"
    )
    awake = document["floors_back_to_back"]
    print(
        f"the same back to back (processes awake): aiokafka ack {awake['publish_ack_ms_p50']} ms, send->consume "
        f"p50 {awake['send_to_consume_ms_p50']} ms; httpx call to the fake {awake['fake_provider_httpx_ms_p50']} ms"
    )


async def _main(arguments: argparse.Namespace, command: str) -> int:
    session = stackctl.bring_up()
    probe = BillingProbe(session.database_url)
    try:
        result = await run(session, probe, arguments.requests, arguments.floor_gap_ms / 1000)
    finally:
        await probe.close()
        stackctl.restore(session)
    document = {
        "bench": "hops",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "git": machine.git_info(),
        "machine": {**machine.machine_info(), "load_average_after": machine.load_average()},
        **result,
    }
    print_table(document)
    print(f"wrote {report.write(arguments.name, document)}")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hops", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests (default 300)")
    parser.add_argument(
        "--floor-gap-ms", type=float, default=15.0, help="pause between the floors' rounds (default 15; 0: tight loop)"
    )
    parser.add_argument("--name", default="hops", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    return asyncio.run(_main(arguments, " ".join(["python -m bench hops", *argv])))
