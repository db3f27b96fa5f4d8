"""``python -m bench batch-stage``: a batch's work in-process, without Kafka or HTTP, in CPU per line and per job.

Three stages, each run as the services run them, on a database of its own (created on the test PostgreSQL and
dropped afterwards):
1. ingest: `ingress.batch_ingest.ingest` over the JSONL the batch bench uploads, split as the route splits it
   (`numbered_lines`), into one COPY: this process's CPU per line and the PostgreSQL backends';
2. feed: `BatchFeeder.tick` until every line is released (its publish encodes each record, as the ledger's
   publisher does), each tick's jobs settled before the next so the in-flight cap never stops it;
3. settle: the usage events the workers would send for those jobs, decoded and settled in batches of
   `--settle-batch` as the settlement agent does (`ledger.app.Ledger._settle`), the results a caller waits for
   encoded;
4. results: the batch's results JSONL read and rendered as `GET /api/v1/batches/{id}/results` does (no HTTP).
CPU and statement counts are steadier than wall time on a shared machine: compare variants by them. Billing is
checked at the end (spent = the usage billed, nothing held).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench import ledger_bench, report
from bench.batch_bench import jsonl_chunks
from bench.ledger_stage import COMPLETED_INPUT_TOKENS, COMPLETED_OUTPUT_TOKENS, Counters, completed_usage
from ingress import batch_rendering
from ingress.batch_ingest import BatchOptions, IngestLimits, ingest
from ingress.batch_stream import numbered_lines
from ingress.key_policy import Principal
from ledger import batch_feeder, batch_queries, inbound, journal, settlement
from ledger.batch_feeder import BatchFeeder, FeedPolicy
from runtime.catalogue_file import load_catalogue
from schemas.batches import is_batch_job
from schemas.events import Envelope, encode
from stack.profiles import REPO_ROOT

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# As the route reads them (`LUNTREX_BATCH_RESULTS_CHUNK_LINES`).
RESULTS_CHUNK_LINES = 1000


def _cpu_s(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS_PER_S


class Clock:
    """This process's CPU, the database backends' CPU and wall time since `start`."""

    def __init__(self, backends: set[int]) -> None:
        self.backends = backends
        self.cpu = self.backend = self.wall = 0.0

    def start(self) -> None:
        self.cpu, self.backend, self.wall = time.process_time(), _cpu_s(self.backends), time.perf_counter()

    def per(self, units: int, counters: Counters | None = None) -> dict[str, float]:
        figures = {
            "python_cpu_us": round((time.process_time() - self.cpu) / units * 1e6, 1),
            "postgres_cpu_us": round((_cpu_s(self.backends) - self.backend) / units * 1e6, 1),
            "wall_us": round((time.perf_counter() - self.wall) / units * 1e6, 1),
        }
        if counters is not None:
            figures["statements"] = round(counters.statements / units, 3)
        return figures


async def _backends(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return {int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())}


async def _chunks(lines: int) -> AsyncIterator[bytes]:
    async for chunk in jsonl_chunks(lines):
        yield chunk


async def measure(url: str, *, lines: int, settle_batch: int, policy: FeedPolicy) -> dict[str, Any]:
    catalogue = load_catalogue(REPO_ROOT / "config" / "models.toml")
    # One connection: every statement of every stage runs on the one backend measured.
    counters = Counters()
    engine = create_async_engine(url, pool_size=1, max_overflow=0, connect_args=counters.connect_args())
    try:
        workspace_id = f"stage_{uuid.uuid4().hex[:8]}"
        async with engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="batch stage")
            await journal.grant(conn, workspace_id, 10**12, idempotency_key=f"grant:{workspace_id}")
        clock = Clock(await _backends(engine))
        principal = Principal(key_id="key_stage", workspace_id=workspace_id, default_model=None)
        clock.start()
        stored = await ingest(
            engine,
            numbered_lines(_chunks(lines), line_max_bytes=1_048_576),
            principal=principal,
            catalogue=catalogue,
            options=BatchOptions(endpoint="/v1/chat/completions", completion_window_s=86_400),
            limits=IngestLimits(lines_max=1_000_000, errors_max=1000, messages_max=512, event_max_bytes=8 * 1024**2),
            now=datetime.now(UTC),
        )
        ingest_figures = clock.per(lines)
        assert stored.total_lines == lines, stored
        feeder = BatchFeeder(engine, catalogue, policy, lock_key=batch_feeder.feeder_lock_key(f"stage-{uuid.uuid4()}"))
        released: list[str] = []

        async def publish(outgoing: list[tuple[str, bytes, Envelope]]) -> None:
            for _, _, event in outgoing:
                encode(event)
                released.append(event.job_id)

        feed_cpu = settle_cpu = 0.0
        feed_backend = settle_backend = 0.0
        feed_statements = settle_statements = 0
        while len(released) < lines:
            counters.statements = 0
            clock.start()
            before = len(released)
            await feeder.tick(publish, now=datetime.now(UTC))
            figures = clock.per(1)
            feed_cpu += figures["python_cpu_us"]
            feed_backend += figures["postgres_cpu_us"]
            feed_statements += counters.statements
            ticked = released[before:]
            assert ticked, "a tick with free slots released nothing"
            usages = [completed_usage(workspace_id, job_id) for job_id in ticked]
            counters.statements = 0
            clock.start()
            for start in range(0, len(usages), settle_batch):
                read = [inbound.usage(payload, catalogue) for payload in usages[start : start + settle_batch]]
                async with engine.begin() as conn:
                    finished = await settlement.settle(conn, catalogue, read)
                for result in finished:
                    if not is_batch_job(result.job_id):
                        encode(result)
            figures = clock.per(1)
            settle_cpu += figures["python_cpu_us"]
            settle_backend += figures["postgres_cpu_us"]
            settle_statements += counters.statements
        async with engine.connect() as conn:
            book = (
                await conn.execute(
                    text(
                        "SELECT sum(CASE WHEN kind = 'spent' THEN balance END), "
                        "sum(CASE WHEN kind = 'held' THEN balance END) FROM ledger_accounts WHERE workspace_id = :ws"
                    ),
                    {"ws": workspace_id},
                )
            ).one()
        view = await batch_queries.batch(engine, workspace_id, stored.batch_id, catalogue=catalogue)
        assert view is not None
        clock.start()
        started = time.perf_counter()
        results_read = 0
        async for line in batch_queries.results(engine, view, chunk_lines=RESULTS_CHUNK_LINES):
            batch_rendering.result_line(line)
            results_read += 1
        results_figures = clock.per(lines) | {"wall_us": round((time.perf_counter() - started) / lines * 1e6, 1)}
        assert results_read == lines, f"{results_read} results for {lines} lines"
        return {
            "lines": lines,
            "ingest_per_line": ingest_figures,
            # The results JSONL as the route reads and renders it (no HTTP): CPU and wall time per line.
            "results_per_line": results_figures,
            "feed_per_job": {
                "python_cpu_us": round(feed_cpu / lines, 1),
                "postgres_cpu_us": round(feed_backend / lines, 1),
                "statements": round(feed_statements / lines, 3),
            },
            "settle_per_job": {
                "python_cpu_us": round(settle_cpu / lines, 1),
                "postgres_cpu_us": round(settle_backend / lines, 1),
                "statements": round(settle_statements / lines, 3),
            },
            "billing_exact": book[0] == (COMPLETED_INPUT_TOKENS + COMPLETED_OUTPUT_TOKENS) * lines and book[1] == 0,
        }
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch-stage", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("LUNTREX_TEST_DATABASE_URL"))
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--settle-batch", type=int, default=256)
    parser.add_argument("--in-flight", type=int, default=512, help="the feeder's in-flight cap per pool")
    parser.add_argument("--release-max", type=int, default=2000)
    parser.add_argument("--name", default="batch_stage")
    arguments = parser.parse_args(argv)
    if not arguments.admin_url:
        parser.error("--admin-url (or LUNTREX_TEST_DATABASE_URL) is required")
    policy = FeedPolicy(
        in_flight_max=arguments.in_flight, release_max=arguments.release_max, quantum=64, redispatch_grace_s=30
    )
    url = ledger_bench.create_database(arguments.admin_url)
    try:
        cell = asyncio.run(measure(url, lines=arguments.lines, settle_batch=arguments.settle_batch, policy=policy))
    finally:
        ledger_bench.drop_database(arguments.admin_url, url)
    print(json.dumps(cell, indent=1))
    report.write(
        arguments.name, {"bench": "batch_stage", "command": " ".join(["python -m bench batch-stage", *argv]), **cell}
    )
    return 0
