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

from bench import adhoc, batch_parts, batch_sync, machine, report, wrk
from bench.batch_parts import PartsProbe, Window
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
_JOB_DONE = text("SELECT status <> 'queued' FROM jobs WHERE id = :id")
_FINISHED = text("SELECT finished_at IS NOT NULL FROM batch_feeds WHERE batch_id = :b")
_BATCH_BILLING = text(
    "SELECT count(*) AS jobs, coalesce(sum(j.cost_tokens), 0) AS cost, "
    "coalesce(sum(j.input_tokens + j.output_tokens), 0) AS used "
    "FROM batch_lines l JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = :b AND j.status = 'completed'"
)
# Lines that reached an end: their job finished (completed, failed, cancelled, expired) or they were never released
# by a batch that has finished.
_LINES_ENDED = text(
    "SELECT count(*) FROM batch_lines l LEFT JOIN jobs j ON j.id = l.job_id "
    "WHERE l.batch_id = :b AND (j.id IS NULL OR j.status <> 'queued')"
)
# How long a batch job is in flight, from its hold (the feeder's release) to its settlement.
_IN_FLIGHT_MS = text(
    "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - "
    "j.created_at) * 1000) FROM batch_lines l JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = :b"
)
# How often the PostgreSQL backends' CPU is sampled while a batch drains (see bench/batch_parts.py).
PROBE_INTERVAL_S = 1.0


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


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _reset_peak_rss(pid: int) -> None:
    # Writing 5 resets VmHWM to the current RSS (Linux >= 4.0): each batch size gets its own peak.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def jsonl_chunks(count: int, chunk_lines: int = 2000) -> AsyncIterator[bytes]:
    """The bench's batch as JSONL, `chunk_lines` lines per chunk: short distinct questions to one model."""
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


async def _wait_finished(
    engine: AsyncEngine, batch_id: str, probe: PartsProbe, started: float
) -> tuple[float | None, float]:
    """Poll until the batch's feed is finished: (seconds to its first line's result, seconds to the end), both
    from `started`. Cheap reads only (the first line's job by id, the feed's row), so the polling itself adds
    next to nothing to PostgreSQL's figure."""
    first_job = f"bj_{batch_id.removeprefix('batch_')}_1"
    first_result_s: float | None = None
    sampled = time.monotonic()
    async with engine.connect() as conn:
        while True:
            if first_result_s is None and (await conn.execute(_JOB_DONE, {"id": first_job})).scalar():
                first_result_s = time.monotonic() - started
            if (await conn.execute(_FINISHED, {"b": batch_id})).scalar():
                return first_result_s, time.monotonic() - started
            await conn.commit()
            if time.monotonic() - sampled > PROBE_INTERVAL_S:
                await asyncio.to_thread(probe.sample)
                sampled = time.monotonic()
            await asyncio.sleep(0.05)


async def upload(client: httpx.AsyncClient, api_key: str, jobs: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/jsonl"}
    created = await client.post("/batches", content=jsonl_chunks(jobs), headers=headers, timeout=600)
    created.raise_for_status()
    batch: dict[str, Any] = created.json()
    assert batch["counts"]["total"] == jobs, batch
    return batch


async def run_one(
    client: httpx.AsyncClient, engine: AsyncEngine, api_key: str, jobs: int, probe: PartsProbe
) -> dict[str, Any]:
    for pid in probe.services.values():
        _reset_peak_rss(pid)
    before = await asyncio.to_thread(Window.now, probe)
    started = time.monotonic()
    batch = await upload(client, api_key, jobs)
    stored_s = time.monotonic() - started
    stored = await asyncio.to_thread(Window.now, probe)
    first_result_s, done_s = await _wait_finished(engine, batch["id"], probe, started + stored_s)
    done = await asyncio.to_thread(Window.now, probe)
    status_reads = await _status_read_ms(client, api_key, batch["id"])
    download = await _results_download(client, api_key, batch["id"], jobs)
    async with engine.connect() as conn:
        billed = (await conn.execute(_BATCH_BILLING, {"b": batch["id"]})).one()
        in_flight_ms = (await conn.execute(_IN_FLIGHT_MS, {"b": batch["id"]})).scalar_one()
    ingest_cpu = before.until(stored, jobs)
    run_cpu = stored.until(done, jobs)
    return {
        # CPU microseconds per line (ingest) and per billed job (the rest), by part: what the rates cost whatever
        # else the shared machine was running. `pipeline` sums every part but the bench's own client.
        "ingest_cpu_us_per_line": ingest_cpu.pop("us_per_unit"),
        "ingest_cpu_us_per_line_pipeline": ingest_cpu.pop("pipeline_us_per_unit"),
        "ingest_machine": ingest_cpu,
        "run_cpu_us_per_job": run_cpu.pop("us_per_unit"),
        "run_cpu_us_per_job_pipeline": run_cpu.pop("pipeline_us_per_unit"),
        "run_machine": run_cpu,
        "jobs": jobs,
        "batch_id": batch["id"],
        "ingest_s": round(stored_s, 3),
        "ingest_lines_per_s": round(jobs / stored_s),
        "time_to_first_result_s": round(first_result_s if first_result_s is not None else done_s, 3),
        "completion_s": round(done_s, 3),
        "billed_jobs_per_s": round(jobs / done_s),
        "hold_to_settled_ms": dict(zip(("p50", "p90", "p99"), (round(v, 1) for v in in_flight_ms), strict=True)),
        "billed_jobs": billed.jobs,
        "billing_exact": billed.cost == billed.used and billed.jobs == jobs,
        "peak_rss_mib": {name: _peak_rss_mib(pid) for name, pid in probe.services.items()},
        "status_read_ms": status_reads,
        "results_download": download,
    }


async def _results_download(client: httpx.AsyncClient, api_key: str, batch_id: str, jobs: int) -> dict[str, float]:
    """The whole results JSONL as a submitter reads it once the batch has ended: lines/s and MB/s."""
    started = time.perf_counter()
    size = lines = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    async with client.stream("GET", f"/batches/{batch_id}/results", headers=headers, timeout=600) as answer:
        answer.raise_for_status()
        async for chunk in answer.aiter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    took = time.perf_counter() - started
    assert lines == jobs, f"{lines} result lines for {jobs} jobs"
    return {"s": round(took, 3), "lines_per_s": round(lines / took), "mb_per_s": round(size / took / 1e6, 1)}


async def _status_read_ms(client: httpx.AsyncClient, api_key: str, batch_id: str, reads: int = 7) -> dict[str, float]:
    """What a submitter polling its batch waits for, once it has ended: the median of `reads` GETs of the batch and
    of the first page of the list (with its counts)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    medians = {}
    for name, path in (("batch", f"/batches/{batch_id}"), ("list", "/batches?limit=20")):
        took = []
        for _ in range(reads):
            started = time.perf_counter()
            (await client.get(path, headers=headers, timeout=60)).raise_for_status()
            took.append((time.perf_counter() - started) * 1000)
        medians[name] = round(sorted(took)[reads // 2], 2)
    return medians


async def sync_beside_a_batch(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    batch_key: str,
    load: batch_sync.SyncLoad,
    jobs: int,
    probe: PartsProbe,
    pairs: int,
) -> dict[str, Any]:
    """`pairs` alternated pairs of cells: sync calls at c=16 with no batch, then while a batch of `jobs` drains.

    One pair's p99 rests on its slowest 1 % (15-20 requests of a 10 s cell) and the machine drifts between cells
    (the broker's JIT, the database's autovacuum after an upload): alternating the cells and taking the median of
    the pairs' ratios measures the batch's effect, not the moment's. Every pair is in the results."""
    measured = [await _sync_pair(client, engine, batch_key, load, jobs, probe) for _ in range(pairs)]
    return {
        "pairs": measured,
        "batch_jobs": jobs,
        "batch_billing_exact": all(pair["batch_billing_exact"] for pair in measured),
        "summary": batch_sync.summarise_pairs([pair["summary"] for pair in measured]),
    }


async def _measured_cell(load: batch_sync.SyncLoad, probe: PartsProbe) -> dict[str, Any]:
    """One wrk cell, with the CPU each part spent in it per sync request."""
    before = await asyncio.to_thread(Window.now, probe)
    cell = await load.cell()
    cell["cpu"] = before.until(await asyncio.to_thread(Window.now, probe), max(cell["requests"], 1))
    return cell


async def _sync_pair(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    batch_key: str,
    load: batch_sync.SyncLoad,
    jobs: int,
    probe: PartsProbe,
) -> dict[str, Any]:
    """One idle cell, then one beside a batch of `jobs`, which is cancelled once the cell ended (its running jobs
    finish and are billed, the rest are never held) so that the next idle cell runs with no batch. Each cell's CPU
    by part (per sync request) says how busy the machine was, other sessions included."""
    await load.warm_up()
    idle = await _measured_cell(load, probe)
    batch = await upload(client, batch_key, jobs)
    first_job = f"bj_{batch['id'].removeprefix('batch_')}_1"
    async with engine.connect() as conn:
        while not (await conn.execute(_JOB_DONE, {"id": first_job})).scalar():
            await conn.commit()
            await asyncio.sleep(0.05)
        # The same warm-up as the idle cell: sync calls start, and the batch has stepped back, before measuring.
        await load.warm_up()
        completed_before = (await conn.execute(_BATCH_BILLING, {"b": batch["id"]})).one().jobs
        await conn.commit()
        draining = await _measured_cell(load, probe)
        after = (await conn.execute(_BATCH_BILLING, {"b": batch["id"]})).one().jobs
        still_draining = not (await conn.execute(_FINISHED, {"b": batch["id"]})).scalar()
        await conn.commit()
        cancelled = await client.post(
            f"/batches/{batch['id']}/cancel", headers={"Authorization": f"Bearer {batch_key}"}, timeout=60
        )
        cancelled.raise_for_status()
        while not (await conn.execute(_FINISHED, {"b": batch["id"]})).scalar():
            await conn.commit()
            await asyncio.sleep(0.2)
        billed = (await conn.execute(_BATCH_BILLING, {"b": batch["id"]})).one()
        ended = (await conn.execute(_LINES_ENDED, {"b": batch["id"]})).scalar_one()
    draining["batch_billed_jobs_per_s"] = round((after - completed_before) / draining["duration_s"])
    return {
        "idle": idle,
        "draining": draining,
        "batch_jobs_billed": billed.jobs,
        # Every completed job charged exactly its usage, and every line ended: billed, or never run and uncharged.
        "batch_billing_exact": billed.cost == billed.used and ended == jobs,
        "summary": batch_sync.summarise(idle, draining, draining_throughout=still_draining),
    }


async def run(arguments: argparse.Namespace, sizes: tuple[int, ...]) -> dict[str, Any]:
    admin_url, kafka = arguments.admin_url, arguments.kafka
    url = await asyncio.to_thread(create_database, admin_url)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-bench-batch-"))
    ports = dict(zip(("fakeprovider", "ingress"), adhoc.free_ports(2), strict=True))
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
    engine = create_async_engine(
        url, pool_size=2, connect_args={"application_name": batch_parts.BENCH_APPLICATION_NAME}
    )
    document: dict[str, Any] = {"logs": str(workdir)}
    try:
        batch_key = await _workspace(engine, "bench batch")
        sync_key = await _workspace(engine, "bench sync")
        with services(env, workdir, ports) as processes:
            probe = PartsProbe(
                services={name: process.pid for name, process in processes.items()},
                admin_url=admin_url,
                database=url.rsplit("/", 1)[1],
                kafka_pid=batch_parts.listening_pid(int(kafka.rsplit(":", 1)[1])),
            )
            base = f"http://127.0.0.1:{ports['ingress']}/api/v1"
            try:
                async with httpx.AsyncClient(base_url=base) as client:
                    runs = [await run_one(client, engine, batch_key, jobs, probe) for jobs in sizes]
                    document["runs"] = runs
                    if arguments.sync_batch_jobs > 0:
                        load = batch_sync.SyncLoad(
                            wrk_path=wrk.ensure_wrk(),
                            url=f"{base}/chat/completions",
                            api_key=sync_key,
                            model=MODEL,
                            duration_s=arguments.sync_duration,
                            warmup_s=2.0,
                        )
                        document["sync_beside_batch"] = await sync_beside_a_batch(
                            client, engine, batch_key, load, arguments.sync_batch_jobs, probe, arguments.sync_pairs
                        )
            finally:
                probe.close()
    finally:
        await engine.dispose()
        await asyncio.to_thread(drop_database, admin_url, url)
    document["summary"] = summarise(document["runs"], document.get("sync_beside_batch"))
    return document


async def _workspace(engine: AsyncEngine, name: str) -> str:
    """A workspace with ample credit and an API key for it."""
    workspace_id = f"bench_{uuid.uuid4().hex[:10]}"
    async with engine.begin() as conn:
        await journal.create_workspace(conn, workspace_id, name=name)
        await journal.grant(conn, workspace_id, 10**12, idempotency_key=f"grant:bench:{workspace_id}")
        _, api_key = await create_key(conn, workspace_id, name)
    return api_key


def summarise(runs: list[dict[str, Any]], sync: dict[str, Any] | None) -> dict[str, Any]:
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
        "time_to_first_result_s": largest["time_to_first_result_s"],
        "ingest_cpu_us_per_line": largest["ingest_cpu_us_per_line"],
        "run_cpu_us_per_job": largest["run_cpu_us_per_job"],
        "peak_rss_mib_smallest_vs_largest": {
            name: [smallest["peak_rss_mib"][name], largest["peak_rss_mib"][name]] for name in SERVICES
        },
        "sync_p99_beside_batch": sync["summary"] if sync is not None else None,
        "billing_exact": all(r["billing_exact"] for r in runs) and (sync is None or bool(sync["batch_billing_exact"])),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql+psycopg://luntrex@127.0.0.1:25433/luntrex")
    parser.add_argument("--kafka", default="127.0.0.1:29092")
    parser.add_argument("--sizes", default="10000,100000", help="jobs per batch, comma separated")
    parser.add_argument("--name", default="batch", help="results file bench/results/<name>.json")
    parser.add_argument(
        "--sync-batch-jobs",
        type=int,
        default=30_000,
        help="jobs of the batch drained while wrk measures sync calls at c=16 (0: skip that phase)",
    )
    parser.add_argument("--sync-duration", type=float, default=10.0, help="seconds of each sync wrk cell")
    parser.add_argument(
        "--sync-pairs", type=int, default=3, help="alternated pairs of sync cells (no batch, then a batch draining)"
    )
    arguments = parser.parse_args(argv)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = machine.load_average()
    sizes = tuple(int(size) for size in arguments.sizes.split(","))
    document = asyncio.run(run(arguments, sizes))
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
