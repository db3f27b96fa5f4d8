"""``python -m bench batch``: batches end to end (fake provider at 0 ms): ingest lines/s, billed jobs/s, time to first
result and the peak RSS of each process, for each batch size (default 10k and 100k jobs).

It runs its own services (fake provider, ledger, workers, ingress) on a database it creates on the test PostgreSQL
and a topic prefix of its own on the test Kafka, so it never touches the dev stack; it stops them and drops the
database afterwards. Results in ``bench/results/batch.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench import machine, procstat, report
from bench.ledger_bench import create_database, drop_database
from ingress.keys import create_key
from ledger import journal
from runtime.kafka import ensure_topics
from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from stack.profiles import REPO_ROOT

INGEST_LINES_PER_S_MIN = 20_000
BILLED_JOBS_PER_S_MIN = 1_000
MODEL = "openai/gpt-4.1-mini"
SERVICES = ("fakeprovider", "ledger", "workers", "ingress")
_PROGRESS = text(
    "SELECT count(*) FILTER (WHERE status = 'completed') AS completed, count(*) FILTER (WHERE status = 'queued') "
    "AS queued FROM jobs WHERE workspace_id = :ws"
)
_FINISHED = text("SELECT finished_at IS NOT NULL FROM batch_feeds WHERE batch_id = :b")
_BILLING = text(
    "SELECT count(*) AS jobs, coalesce(sum(cost_tokens), 0) AS cost, coalesce(sum(input_tokens + output_tokens), 0) "
    "AS used FROM jobs WHERE workspace_id = :ws AND status = 'completed'"
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def services(env: dict[str, str], workdir: Path, ports: dict[str, int]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start the four services and wait for each to be ready; stop them (SIGTERM, then SIGKILL) on the way out."""
    argv = {
        "fakeprovider": ["fakeprovider", "--port", str(ports["fakeprovider"])],
        "ledger": ["ledger"],
        "workers": ["workers"],
        "ingress": ["ingress", "--port", str(ports["ingress"])],
    }
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in SERVICES:
            ready = workdir / f"{name}.ready"
            with (workdir / f"{name}.log").open("ab") as log:
                started[name] = subprocess.Popen(
                    [sys.executable, "-m", *argv[name]],
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **env, "LUNTREX_READY_FILE": str(ready)},
                )
            deadline = time.monotonic() + 120
            while not ready.exists():
                if started[name].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {workdir / (name + '.log')}")
                time.sleep(0.05)
        yield started
    finally:
        for process in reversed(started.values()):
            process.terminate()
        for process in started.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _cpu_s(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each service (PostgreSQL is shared with other sessions here, so it is left out)."""
    return {name: procstat.process_cpu_s(pid) for name, pid in pids.items()}


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _reset_peak_rss(pid: int) -> None:
    # Writing 5 resets VmHWM to the current RSS (Linux >= 4.0): each batch size gets its own peak.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _lines(count: int, chunk_lines: int = 2000) -> AsyncIterator[bytes]:
    for start in range(0, count, chunk_lines):
        yield b"".join(
            orjson.dumps(
                {
                    "custom_id": f"req-{n}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "model": MODEL,
                        "messages": [{"role": "user", "content": f"Question {n}"}],
                        "max_tokens": 32,
                    },
                }
            )
            + b"\n"
            for n in range(start, min(count, start + chunk_lines))
        )


async def run_one(
    client: httpx.AsyncClient, engine: AsyncEngine, workspace_id: str, api_key: str, jobs: int, pids: dict[str, int]
) -> dict[str, Any]:
    for pid in pids.values():
        _reset_peak_rss(pid)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/jsonl"}
    cpu_before = _cpu_s(pids)
    started = time.monotonic()
    created = await client.post("/batches", content=_lines(jobs), headers=headers, timeout=600)
    stored_s = time.monotonic() - started
    cpu_stored = _cpu_s(pids)
    created.raise_for_status()
    batch = created.json()
    assert batch["counts"]["total"] == jobs, batch
    first_result_s: float | None = None
    async with engine.connect() as conn:
        while True:
            progress = (await conn.execute(_PROGRESS, {"ws": workspace_id})).one()
            if first_result_s is None and progress.completed > 0:
                first_result_s = time.monotonic() - started - stored_s
            if (await conn.execute(_FINISHED, {"b": batch["id"]})).scalar():
                break
            await conn.commit()
            await asyncio.sleep(0.05)
        billed = (await conn.execute(_BILLING, {"ws": workspace_id})).one()
    done_s = time.monotonic() - started - stored_s
    cpu_done = _cpu_s(pids)
    return {
        # CPU seconds per line (ingest) and per billed job (the rest), by process: what the figures above cost
        # whatever else the shared machine was running.
        "ingest_cpu_us_per_line": {
            name: round((cpu_stored[name] - cpu_before[name]) / jobs * 1e6, 1) for name in cpu_stored
        },
        "run_cpu_us_per_job": {name: round((cpu_done[name] - cpu_stored[name]) / jobs * 1e6, 1) for name in cpu_done},
        "jobs": jobs,
        "ingest_s": round(stored_s, 3),
        "ingest_lines_per_s": round(jobs / stored_s),
        "time_to_first_result_s": round(first_result_s or done_s, 3),
        "completion_s": round(done_s, 3),
        "billed_jobs_per_s": round(jobs / done_s),
        "billed_jobs": billed.jobs,
        "billing_exact": billed.cost == billed.used,
        "peak_rss_mib": {name: _peak_rss_mib(pid) for name, pid in pids.items()},
    }


async def run(admin_url: str, kafka: str, sizes: tuple[int, ...]) -> dict[str, Any]:
    url = await asyncio.to_thread(create_database, admin_url)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-bench-batch-"))
    ports = {"fakeprovider": _free_port(), "ingress": _free_port()}
    fake = f"http://127.0.0.1:{ports['fakeprovider']}"
    settings = ServiceSettings(kafka_bootstrap_servers=kafka)
    await ensure_topics(settings, topic_plan(settings.load_catalogue(), prefix))
    env = {
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LUNTREX_DATABASE_URL": url,
        "LUNTREX_TOPIC_PREFIX": prefix,
        "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
        "OPENAI_API_KEY": "sk-fake",
        "ANTHROPIC_API_KEY": "fake",
        "GEMINI_API_KEY": "fake",
        "LLAMA_API_KEY": "fake",
        "LUNTREX_PROVIDER_BASE_URLS": orjson.dumps(
            {
                "openai": f"{fake}/openai/v1",
                "anthropic": f"{fake}/anthropic",
                "gemini": f"{fake}/gemini",
                "llama": f"{fake}/openai/v1",
            }
        ).decode(),
    }
    engine = create_async_engine(url, pool_size=2)
    try:
        workspace_id = f"bench_{uuid.uuid4().hex[:10]}"
        async with engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="bench batch")
            await journal.grant(conn, workspace_id, 10**12, idempotency_key=f"grant:bench:{workspace_id}")
            _, api_key = await create_key(conn, workspace_id, "bench batch")
        with services(env, workdir, ports) as processes:
            pids = {name: process.pid for name, process in processes.items()}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['ingress']}/api/v1") as client:
                runs = [await run_one(client, engine, workspace_id, api_key, jobs, pids) for jobs in sizes]
                # Each size adds to the same workspace: its billed jobs are the running total.
                for run_, total in zip(runs, _running_totals(sizes), strict=True):
                    run_["billed_jobs_ok"] = run_.pop("billed_jobs") == total
    finally:
        await engine.dispose()
        await asyncio.to_thread(drop_database, admin_url, url)
    return {"runs": runs, "summary": summarise(runs), "logs": str(workdir)}


def _running_totals(sizes: tuple[int, ...]) -> list[int]:
    totals, total = [], 0
    for size in sizes:
        total += size
        totals.append(total)
    return totals


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    largest = max(runs, key=lambda r: r["jobs"])
    smallest = min(runs, key=lambda r: r["jobs"])
    return {
        "ingest_lines_per_s": {
            "value": largest["ingest_lines_per_s"],
            "target": INGEST_LINES_PER_S_MIN,
            "met": largest["ingest_lines_per_s"] >= INGEST_LINES_PER_S_MIN,
        },
        "billed_jobs_per_s": {
            "value": largest["billed_jobs_per_s"],
            "target": BILLED_JOBS_PER_S_MIN,
            "met": largest["billed_jobs_per_s"] >= BILLED_JOBS_PER_S_MIN,
        },
        "peak_rss_mib_smallest_vs_largest": {
            name: [smallest["peak_rss_mib"][name], largest["peak_rss_mib"][name]] for name in SERVICES
        },
        "billing_exact": all(r["billing_exact"] and r["billed_jobs_ok"] for r in runs),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql+psycopg://luntrex@127.0.0.1:25433/luntrex")
    parser.add_argument("--kafka", default="127.0.0.1:29092")
    parser.add_argument("--sizes", default="10000,100000", help="jobs per batch, comma separated")
    parser.add_argument("--name", default="batch", help="results file bench/results/<name>.json")
    arguments = parser.parse_args(argv)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = machine.load_average()
    sizes = tuple(int(size) for size in arguments.sizes.split(","))
    document = asyncio.run(run(arguments.admin_url, arguments.kafka, sizes))
    document = {
        "bench": "batch",
        "timestamp": started_at,
        "command": " ".join(["python -m bench batch", *argv]),
        "git": machine.git_info(),
        "machine": {
            **machine.machine_info(),
            "load_average_before": load_before,
            "load_average_after": machine.load_average(),
        },
        **document,
    }
    path = report.write(arguments.name, document)
    print(orjson.dumps(document["runs"], option=orjson.OPT_INDENT_2).decode())
    print(orjson.dumps(document["summary"], option=orjson.OPT_INDENT_2).decode())
    print(f"wrote {path}")
    return 0
