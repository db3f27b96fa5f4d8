"""``python -m bench ledger``: the ledger alone on PostgreSQL, no Kafka, no HTTP.

1. Settlements per second through the real settlement path (`ledger.settlement.settle` on decoded usage
   events, then the finance crossing hook), in batches as the ledger's agent takes them, one transaction each.
2. Statement export: `ledger.finance_queries.statement_csv` of the latest 10k, 100k and 1M entries, rows per second
   and the peak RSS of this process during each export (VmHWM from /proc, reset before each with
   /proc/self/clear_refs), so flat memory shows as the same peak at every size.

Runs in a database it creates on the test PostgreSQL (`--admin-url`) and drops afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench import machine, report
from ledger import finance_queries, holds, journal, settlement, thresholds
from runtime.catalogue_file import load_catalogue
from schemas.events import UsageRecorded
from stack.profiles import REPO_ROOT

SETTLEMENTS_PER_S_MIN = 5_000
EXPORT_ROWS_PER_S_MIN = 50_000
EXPORT_SIZES = (10_000, 100_000, 1_000_000)
MODEL = "openai/gpt-4.1-mini"


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(admin_url: str) -> str:
    name = f"luntrex_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "alembic.ini"), "upgrade", "head"],
        cwd=REPO_ROOT,
        env={**os.environ, "LUNTREX_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )
    return url


def drop_database(admin_url: str, url: str, *, attempts: int = 10) -> None:
    """Drop the bench's database. Plain DROP, retried: it ends autovacuum workers itself, while WITH (FORCE)
    would need the right to signal them (the role lacks it) and fails after a large fill."""
    name = url.rsplit("/", 1)[1]
    for attempt in range(1, attempts + 1):
        try:
            with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except psycopg.errors.ObjectInUse:
            if attempt == attempts:
                raise
            time.sleep(1.0)


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    # Writing 5 resets VmHWM to the current RSS (Linux >= 4.0), so each export's peak is its own.
    Path("/proc/self/clear_refs").write_text("5")


async def _workspaces(engine: AsyncEngine, count: int, tokens: int) -> list[str]:
    ids = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    async with engine.begin() as conn:
        for workspace_id in ids:
            await journal.create_workspace(conn, workspace_id, name="bench")
            await journal.grant(conn, workspace_id, tokens, idempotency_key=f"grant:bench:{workspace_id}")
    return ids


async def bench_settlements(
    engine: AsyncEngine, jobs: int, batch: int, workspaces: int, connections: int
) -> dict[str, Any]:
    """Admit `jobs` jobs (not timed), then time settling them in batches through the real path plus the hook.

    `connections` lanes settle disjoint workspaces at once, as ledger partitions do (one writer per workspace).
    """
    catalogue = load_catalogue(REPO_ROOT / "config" / "models.toml")
    ids = await _workspaces(engine, workspaces, tokens=10**12)
    async with engine.begin() as conn:
        # One watched workspace, so the hook does real work on part of every batch.
        await thresholds.add_alert_threshold(conn, ids[0], kind="absolute", threshold_tokens=10**12 - 1)
    requests = [
        holds.HoldRequest(f"job_{uuid.uuid4().hex}", ids[n % workspaces], "key_bench", MODEL, 600, ("bench",))
        for n in range(jobs)
    ]
    admit_started = time.perf_counter()
    for start in range(0, jobs, batch):
        async with engine.begin() as conn:
            await holds.admit_batch(conn, requests[start : start + batch])
    admit_s = time.perf_counter() - admit_started
    usages = [
        UsageRecorded(
            workspace_id=r.workspace_id,
            job_id=r.job_id,
            outcome="completed",
            model_id=MODEL,
            provider="openai",
            input_tokens=100 + n % 50,
            output_tokens=200 + n % 300,
            answer="a short answer",
            finish_reason="stop",
        )
        for n, r in enumerate(requests)
    ]
    lane_of = {workspace_id: n % connections for n, workspace_id in enumerate(ids)}
    lanes = [[u for u in usages if lane_of[u.workspace_id] == lane] for lane in range(connections)]

    async def settle_lane(lane: list[UsageRecorded]) -> None:
        for start in range(0, len(lane), batch):
            chunk = lane[start : start + batch]
            async with engine.begin() as conn:
                # Settlement runs the crossing hook itself (alerts and auto top-ups), in this transaction.
                finished = await settlement.settle(conn, catalogue, chunk)
                assert len(finished) == len(chunk)

    started = time.perf_counter()
    cpu_started = time.process_time()
    await asyncio.gather(*(settle_lane(lane) for lane in lanes))
    elapsed_s = time.perf_counter() - started
    async with engine.connect() as conn:
        events = int((await conn.execute(text("SELECT count(*) FROM finance_events"))).scalar_one())
    return {
        "jobs": jobs,
        "batch": batch,
        "workspaces": workspaces,
        "admissions_per_s": round(jobs / admit_s),
        "connections": connections,
        "settle_s": round(elapsed_s, 3),
        "bench_process_cpu_s": round(time.process_time() - cpu_started, 3),
        "settlements_per_s": round(jobs / elapsed_s),
        "target_settlements_per_s": SETTLEMENTS_PER_S_MIN,
        "met": jobs / elapsed_s >= SETTLEMENTS_PER_S_MIN,
        "finance_events": events,
    }


_BULK = text(
    """
    WITH txn AS (
        INSERT INTO journal_transactions (idempotency_key, kind, workspace_id, job_id, detail, created_at)
        SELECT 'bench:' || CAST(:ws AS text) || ':' || n, 'debit', CAST(:ws AS text), 'job_' || n,
               jsonb_build_object('model', CAST(:model AS text), 'api_key_id', 'key_bench',
                                  'tags', jsonb_build_array('bench'), 'input_tokens', 100,
                                  'output_tokens', 200 + n % 7),
               CAST(:base AS timestamptz) + n * interval '1 millisecond'
        FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n
        RETURNING id, (detail->>'output_tokens')::bigint + 100 AS cost
    )
    INSERT INTO postings (transaction_id, account_id, amount)
    SELECT id, CAST(:available AS text), -cost FROM txn UNION ALL SELECT id, CAST(:spent AS text), cost FROM txn
    """
)


async def _fill(engine: AsyncEngine, workspace_id: str, entries: int, chunk: int) -> float:
    """Bulk-write `entries` balanced debit entries (SQL-generated: the export is measured, not the writes)."""
    started = time.perf_counter()
    base = "2026-01-01T00:00:00Z"
    for first in range(0, entries, chunk):
        async with engine.begin() as conn:
            await conn.execute(
                _BULK,
                {
                    "ws": workspace_id,
                    "model": MODEL,
                    "base": base,
                    "first": first,
                    "last": min(entries, first + chunk) - 1,
                    "available": f"ws:{workspace_id}:available",
                    "spent": f"ws:{workspace_id}:spent",
                },
            )
    async with engine.begin() as conn:
        # Balances follow their postings, as the book requires.
        await conn.execute(
            text(
                "UPDATE ledger_accounts a SET balance = (SELECT coalesce(sum(amount), 0) FROM postings p "
                "WHERE p.account_id = a.id) WHERE a.workspace_id = :ws"
            ),
            {"ws": workspace_id},
        )
        await conn.execute(text("ANALYZE journal_transactions; ANALYZE postings"))
    return time.perf_counter() - started


async def bench_export(engine: AsyncEngine, sizes: tuple[int, ...], chunk: int) -> list[dict[str, Any]]:
    """Fill one workspace with max(sizes) entries, then export periods holding each size in turn."""
    (workspace_id,) = await _workspaces(engine, 1, tokens=10**12)
    fill_s = await _fill(engine, workspace_id, max(sizes), chunk)
    results = []
    for size in sizes:
        async with engine.connect() as conn:
            last_at = (
                await conn.execute(
                    text(
                        "SELECT max(created_at) FROM journal_transactions WHERE workspace_id = :ws AND kind = 'debit'"
                    ),
                    {"ws": workspace_id},
                )
            ).scalar_one()
            # The most recent `size` entries (entries are 1 ms apart): a statement of the latest period.
            since = last_at - timedelta(milliseconds=size - 1)
            until = last_at + timedelta(milliseconds=1)
            _reset_peak_rss()
            rss_before_kib = _rss_kib("VmRSS")
            rows = 0
            written_bytes = 0
            started = time.perf_counter()
            first_byte_s = 0.0
            async for piece in finance_queries.statement_csv(conn, workspace_id, since=since, until=until):
                first_byte_s = first_byte_s or time.perf_counter() - started
                rows += piece.count(b"\n")
                written_bytes += len(piece)
            elapsed_s = time.perf_counter() - started
            peak_kib = _rss_kib("VmHWM")
        entry_rows = rows - 10  # the summary block: header, 7 lines (one model), blank line, column header
        results.append(
            {
                "entries": size,
                "rows_exported": entry_rows,
                "seconds": round(elapsed_s, 3),
                "summary_s": round(first_byte_s, 3),
                "rows_per_s": round(entry_rows / elapsed_s),
                "bytes": written_bytes,
                "rss_before_mib": round(rss_before_kib / 1024, 1),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "peak_growth_mib": round((peak_kib - rss_before_kib) / 1024, 1),
                "fill_s": round(fill_s, 1),
            }
        )
        print(f"export {size:>9,} entries: {entry_rows / elapsed_s:>9,.0f} rows/s, peak RSS {peak_kib / 1024:.1f} MiB")
    return results


async def run(
    admin_url: str, *, jobs: int, batch: int, workspaces: int, connections: tuple[int, ...], sizes: tuple[int, ...]
) -> dict[str, Any]:
    url = await asyncio.to_thread(create_database, admin_url)
    engine = create_async_engine(url, pool_size=4)
    try:
        settlements = [await bench_settlements(engine, jobs, batch, workspaces, n) for n in connections]
        for result in settlements:
            print(
                f"settlements over {result['connections']} connection(s): {result['settlements_per_s']:,}/s "
                f"(target >= {SETTLEMENTS_PER_S_MIN:,})"
            )
        exports = await bench_export(engine, sizes, chunk=50_000)
    finally:
        await engine.dispose()
        dropped = await _drop_reporting(admin_url, url)
    return {
        "database": {"name": url.rsplit("/", 1)[1], "dropped": dropped},
        "settlement": settlements,
        "export": exports,
        "summary": summarise(settlements, exports),
    }


def summarise(settlements: list[dict[str, Any]], exports: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures against the targets: settlements per second (best lane count), the export rate of the
    largest statement, and how far peak memory moved from the smallest to the largest."""
    peaks = [e["peak_rss_mib"] for e in exports]
    largest = max(exports, key=lambda e: e["entries"])
    return {
        "settlements_per_s": max(r["settlements_per_s"] for r in settlements),
        "settlements_met": any(r["met"] for r in settlements),
        "export_entries": largest["entries"],
        "export_rows_per_s": largest["rows_per_s"],
        "export_met": largest["rows_per_s"] >= EXPORT_ROWS_PER_S_MIN,
        "export_rows_per_s_by_size": {str(e["entries"]): e["rows_per_s"] for e in exports},
        "export_peak_rss_spread_mib": round(max(peaks) - min(peaks), 1),
    }


async def _drop_reporting(admin_url: str, url: str) -> bool:
    """Drop the database; a failure is reported (with the name, to drop by hand) but never loses the figures."""
    try:
        await asyncio.to_thread(drop_database, admin_url, url)
    except psycopg.Error as error:
        print(f"could not drop {url.rsplit('/', 1)[1]}: {error}", file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql+psycopg://luntrex@127.0.0.1:25433/luntrex")
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workspaces", type=int, default=64)
    parser.add_argument("--connections", default="1,2", help="settlement lanes to measure, comma separated")
    parser.add_argument("--sizes", default=",".join(map(str, EXPORT_SIZES)))
    arguments = parser.parse_args(argv)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = machine.load_average()
    document = asyncio.run(
        run(
            arguments.admin_url,
            jobs=arguments.jobs,
            batch=arguments.batch,
            workspaces=arguments.workspaces,
            connections=tuple(int(n) for n in arguments.connections.split(",")),
            sizes=tuple(int(s) for s in arguments.sizes.split(",")),
        )
    )
    document = {
        "bench": "ledger",
        "timestamp": started_at,
        "command": " ".join(["python -m bench ledger", *argv]),
        "git": machine.git_info(),
        "machine": {
            **machine.machine_info(),
            "load_average_before": load_before,
            "load_average_after": machine.load_average(),
        },
        **document,
    }
    path = report.write("ledger", document)
    print(f"wrote {path}")
    return 0
