"""``python -m bench idle``: what each service costs when nothing happens.

Runs the fake provider, the ledger, the workers, ingress and the webhook dispatcher from a checkout (`--root`,
default this one) on a Kafka and a PostgreSQL that already run (`--services BOOTSTRAP,ADMIN_DATABASE_URL`, as
`bench/adhoc.py` does), with metrics on (the ledger and the workers on ports of their own, as the stack runs
them). After `--warmup` sync requests and `--settle-s` of quiet, it reads over `--idle-s` seconds, per service:
CPU (utime + stime of every thread, /proc) in ms per second, and context switches per second (every wake-up
from a sleep is one; threads' included), plus the CPU of our database's PostgreSQL backends. Then one request
is sent to the idle stack and must complete (its latency is reported, a single sample: a check, not a figure).
The broker's CPU is not read: the shared test broker serves other sessions too.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import edge, procstat
from bench.workspace import BillingProbe
from stack.profiles import REPO_ROOT


class _Services(edge._Services):
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes.items()}

    def switches(self) -> dict[str, int]:
        return {name: procstat.context_switches(pid) for name, pid in self.pids().items()}


async def run(services: _Services, arguments: argparse.Namespace) -> dict[str, Any]:
    probe = BillingProbe(services.database_url)
    try:
        workspace = await probe.create()
        headers = {"authorization": f"Bearer {workspace.api_key}"}
        async with httpx.AsyncClient(base_url=services.base_url, timeout=60) as http:
            for _ in range(arguments.warmup):
                (await http.post("/chat/completions", json=edge.BODY, headers=headers)).raise_for_status()
            await asyncio.sleep(arguments.settle_s)
            cpu_before, switches_before = services.cpu_by_part(), services.switches()
            await asyncio.sleep(arguments.idle_s)
            cpu_after, switches_after = services.cpu_by_part(), services.switches()
            started = time.perf_counter()
            (await http.post("/chat/completions", json=edge.BODY, headers=headers)).raise_for_status()
            after_idle_ms = (time.perf_counter() - started) * 1000
    finally:
        await probe.close()
    seconds = arguments.idle_s
    return {
        "idle_s": seconds,
        "cpu_ms_per_s": {name: round((cpu_after[name] - cpu_before[name]) * 1000 / seconds, 2) for name in cpu_after},
        "context_switches_per_s": {
            name: round((switches_after[name] - switches_before[name]) / seconds, 1) for name in switches_after
        },
        "first_request_after_idle_ms": round(after_idle_ms, 1),
    }


async def _main(arguments: argparse.Namespace, command: str) -> int:
    kafka, admin_url = arguments.services.split(",", 1)
    services = _Services(kafka=kafka, admin_database_url=admin_url, root=arguments.root)
    return await edge.run_and_report(
        "idle", services, arguments, command, run, also_start=(("dispatcher", "ledger.dispatcher"),)
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench idle", description=__doc__.splitlines()[0])
    parser.add_argument("--services", required=True, help="KAFKA_BOOTSTRAP,ADMIN_DATABASE_URL of running servers")
    parser.add_argument("--root", default=str(REPO_ROOT), help="the checkout whose services run (default: this)")
    parser.add_argument("--warmup", type=int, default=20, help="sync requests before the quiet (default 20)")
    parser.add_argument("--settle-s", type=float, default=5.0, help="quiet before the reading (default 5)")
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds of idle reading (default 30)")
    parser.add_argument("--name", default="idle", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    arguments.root = Path(arguments.root).resolve()
    return asyncio.run(_main(arguments, " ".join(["python -m bench idle", *argv])))
