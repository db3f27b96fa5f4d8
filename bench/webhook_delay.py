"""``python -m bench webhook-delay``: how long a job's webhook takes from its settlement to the receiver.

Runs the fake provider, the ledger, the workers, ingress and the webhook dispatcher from a checkout (`--root`,
default this one) on a Kafka and a PostgreSQL that already run (`--services BOOTSTRAP,ADMIN_DATABASE_URL`, as
`python -m bench idle` does), with loopback receivers allowed. It registers an endpoint subscribed to
`job.completed` on a local HTTP receiver, sends `--deliveries` sync completions one after another (a random
pause of up to `--gap-ms` between them, so the requests keep no rhythm with a poll), and waits for every webhook.

The delay of one webhook: the receiver's clock when its POST has arrived, minus the job's `finished_at`, which
the settlement transaction sets (`now()`: the transaction's start, on the same machine's clock). It counts the
settlement transaction's own few milliseconds too, so it is an upper bound of commit-to-receiver, the same way
for every checkout. Reported: p50, p90, p99 and max, and the dispatcher's CPU per delivery over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import edge, idle, stats
from bench.workspace import BillingProbe
from stack.profiles import REPO_ROOT

WARMUP_REQUESTS = 10
ARRIVAL_TIMEOUT_S = 120.0
# Receivers on 127.0.0.1: the ledger checks this at registration and the dispatcher at every delivery.
WEBHOOK_ENV = {"LUNTREX_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]'}


class _Services(idle._Services):
    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        super()._start(name, argv, {**env, **WEBHOOK_ENV})


class _Receiver:
    """A local HTTP receiver that notes when each webhook-id's POST had fully arrived (wall clock)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self._arrival = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def all_of(self, ids: set[str]) -> None:
        """Return once every one of `ids` has arrived."""
        while not ids <= self.arrived.keys():
            self._arrival.clear()
            await self._arrival.wait()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.arrived.setdefault(headers.get("webhook-id", ""), time.time())
            self._arrival.set()
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _finished_at(database_url: str, job_ids: list[str]) -> dict[str, float]:
    engine = create_async_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, extract(epoch FROM finished_at) AS at FROM jobs WHERE id = ANY(:ids)"),
                {"ids": job_ids},
            )
            return {row.id: float(row.at) for row in rows}
    finally:
        await engine.dispose()


async def run(services: _Services, arguments: argparse.Namespace) -> dict[str, Any]:
    receiver = _Receiver()
    await receiver.start()
    probe = BillingProbe(services.database_url)
    try:
        workspace = await probe.create()
        headers = {"authorization": f"Bearer {workspace.api_key}"}
        async with httpx.AsyncClient(base_url=services.base_url, timeout=60) as http:
            hook = {"url": f"http://127.0.0.1:{receiver.port}/hook", "event_types": ["job.completed"]}
            (await http.post("/webhooks", json=hook, headers=headers)).raise_for_status()
            for _ in range(WARMUP_REQUESTS):
                (await http.post("/chat/completions", json=edge.BODY, headers=headers)).raise_for_status()
            await asyncio.sleep(2.0)
            cpu_before = services.cpu_by_part()
            job_ids = []
            for _ in range(arguments.deliveries):
                answer = await http.post("/chat/completions", json=edge.BODY, headers=headers)
                answer.raise_for_status()
                job_ids.append(str(answer.json()["id"]))
                await asyncio.sleep(random.uniform(0, arguments.gap_ms / 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.all_of({f"evt_{job}" for job in job_ids}), ARRIVAL_TIMEOUT_S)
            cpu_after = services.cpu_by_part()
    finally:
        await probe.close()
        receiver.close()
    finished = await _finished_at(services.database_url, job_ids)
    delays_ms = [
        (receiver.arrived[f"evt_{job}"] - finished[job]) * 1000
        for job in job_ids
        if f"evt_{job}" in receiver.arrived and job in finished
    ]
    missing = len(job_ids) - len(delays_ms)
    return {
        "deliveries": len(job_ids),
        "missing": missing,
        "gap_ms_max": arguments.gap_ms,
        "delay_ms": {
            "p50": round(stats.percentile(delays_ms, 0.5, rule="nearest"), 1),
            "p90": round(stats.percentile(delays_ms, 0.9, rule="nearest"), 1),
            "p99": round(stats.percentile(delays_ms, 0.99, rule="nearest"), 1),
            "max": round(max(delays_ms), 1),
            "mean": round(statistics.fmean(delays_ms), 1),
        },
        "dispatcher_cpu_ms_per_delivery": round(
            (cpu_after["dispatcher"] - cpu_before["dispatcher"]) * 1000 / max(1, len(job_ids)), 3
        ),
    }


async def _main(arguments: argparse.Namespace, command: str) -> int:
    kafka, admin_url = arguments.services.split(",", 1)
    services = _Services(kafka=kafka, admin_database_url=admin_url, root=arguments.root)
    return await edge.run_and_report(
        "webhook_delay", services, arguments, command, run, also_start=(("dispatcher", "ledger.dispatcher"),)
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhook-delay", description=__doc__.splitlines()[0])
    parser.add_argument("--services", required=True, help="KAFKA_BOOTSTRAP,ADMIN_DATABASE_URL of running servers")
    parser.add_argument("--root", default=str(REPO_ROOT), help="the checkout whose services run (default: this)")
    parser.add_argument("--deliveries", type=int, default=200, help="sync completions, one webhook each (default 200)")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="largest random pause between requests (default 50)")
    parser.add_argument("--name", default="webhook_delay", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    arguments.root = Path(arguments.root).resolve()
    return asyncio.run(_main(arguments, " ".join(["python -m bench webhook-delay", *argv])))
