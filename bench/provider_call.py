"""``python -m bench provider-call``: a worker's provider call in-process, in CPU microseconds per call.

The fake provider runs in a process of its own (`python -m fakeprovider`, 0 ms latency); this process makes
`--calls` calls through the real adapter (`OpenAIAdapter.complete`: payload, `post_json`, bounded read, result
mapping) over the workers' HTTP client (`workers.app.new_http_client`, the aiohttp transport by default),
`--concurrency` at a time, as a worker's batch lane would. The figure is this process's CPU time
(`time.process_time`) per call, which other load on the machine barely moves, unlike wall time; each round
is measured after a warm-up, and rounds are reported one by one. Compare two versions of the code by running
them alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import machine, report
from runtime import heap
from schemas.events import PromptMessage
from stack.profiles import REPO_ROOT
from workers.app import new_http_client
from workers.providers.base import ProviderCall, ProviderConfig
from workers.providers.openai import OpenAIAdapter
from workers.settings import WorkerSettings

FAKE_START_S_MAX = 60.0
# The batch lane's share of the openai provider's calls in a worker: concurrency_max 256 x share 0.75.
CONCURRENCY_DEFAULT = 192


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fake_provider() -> Iterator[str]:
    """The fake provider in its own process (its CPU is not this process's); its base URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="provider-call-") as workdir:
        ready = Path(workdir) / "fake.ready"
        with (Path(workdir) / "fake.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fakeprovider", "--port", str(port)],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LUNTREX_READY_FILE": str(ready)},
            )
        try:
            deadline = time.monotonic() + FAKE_START_S_MAX
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the fake provider did not start: {(Path(workdir) / 'fake.log').read_text()}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _call(n: int) -> ProviderCall:
    # Short distinct questions to one model, as the batch bench sends.
    return ProviderCall(
        upstream_model="gpt-4.1-mini",
        messages=(PromptMessage(role="user", content=f"Question {n}"),),
        max_tokens=32,
        timeout_s=60.0,
    )


async def _drive(adapter: OpenAIAdapter, calls: int, concurrency: int) -> None:
    """`calls` calls, `concurrency` in flight; every one must succeed."""
    next_call = iter(range(calls))

    async def lane() -> None:
        for n in next_call:
            result = await adapter.complete(_call(n))
            assert result.output_tokens > 0, result

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def measure(fake_url: str, *, transport: str, calls: int, rounds: int, concurrency: int) -> dict[str, Any]:
    settings = WorkerSettings(http_transport="httpx" if transport == "httpx" else "aiohttp")
    async with new_http_client(settings) as client:
        config = ProviderConfig(name="openai", base_url=f"{fake_url}/openai/v1", api_key="sk-bench", client=client)
        adapter = OpenAIAdapter(config)
        await _drive(adapter, min(calls, 2000), concurrency)
        # As a worker does once it is up (workers/app.py): start-up objects out of the collector's sight.
        heap.settle(settings.gc_young_threshold)
        measured: list[dict[str, float]] = []
        for _ in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            await _drive(adapter, calls, concurrency)
            cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
            measured.append(
                {
                    "cpu_us_per_call": round(cpu_s / calls * 1e6, 1),
                    "wall_us_per_call": round(wall_s / calls * 1e6, 1),
                    "calls_per_s": round(calls / wall_s, 1),
                }
            )
    cpu_figures = [entry["cpu_us_per_call"] for entry in measured]
    return {
        "transport": transport,
        "calls_per_round": calls,
        "concurrency": concurrency,
        "rounds": measured,
        "cpu_us_per_call_median": round(statistics.median(cpu_figures), 1),
        "cpu_us_per_call_min": min(cpu_figures),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench provider-call", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY_DEFAULT)
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--name", default="provider_call", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    load_before = machine.load_average()
    with fake_provider() as fake_url:
        cell = asyncio.run(
            measure(
                fake_url,
                transport=arguments.transport,
                calls=arguments.calls,
                rounds=arguments.rounds,
                concurrency=arguments.concurrency,
            )
        )
    print(json.dumps(cell, indent=1))
    path = report.write(
        arguments.name,
        {
            "bench": "provider_call",
            "command": " ".join(["python -m bench provider-call", *argv]),
            "git": machine.git_info(),
            "machine": {**machine.machine_info(), "load_average_before": load_before},
            **cell,
        },
    )
    print(f"wrote {path}")
    return 0
