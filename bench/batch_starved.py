"""``python -m bench batch-starved``: what a batch waiting for credit costs the feeder, and how soon it resumes.

In-process on a database of its own (created on the test PostgreSQL and dropped afterwards; no Kafka, no HTTP): a
workspace with no credit stores a `--lines` batch (5,000), and a first feeder tick finds it short. Then:
1. per tick: `--ticks` feeder ticks back to back while it waits: this process's CPU, the PostgreSQL backend's CPU,
   wall time, statements and lines read, per tick;
2. per second: the feeder paced as the ledger paces it (the next tick `batch_feed_interval_s` after the last ended
   while some batch can run, `batch_feed_idle_interval_s` after it when none can) for `--seconds`: CPU (process
   plus backend) as a share of one core;
3. resume: `--topups` times, at a random moment of the paced loop, a top-up of exactly the hold the batch waits
   for: time from its commit to the feeder's publish of the batch's next line.
The file runs unchanged on the commit before the feeder remembered what a workspace ran short of
(`batch_feeds.credit_needed_tokens`), for the before figures: there every tick reads the waiting batch's lines
(`git archive 4e6bfec | tar -x -C /tmp/before`, copy this file into its `bench/`, run
`python -c 'import sys; from bench import batch_starved; batch_starved.main(sys.argv[1:])'` there).
`--credit-recheck-s 0` has every tick of this feeder try the waiting workspace again (one quantum of lines each).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench import ledger_bench, report
from bench.batch_stage import Clock, _backends, _chunks
from bench.ledger_stage import Counters
from ingress.batch_ingest import BatchOptions, IngestLimits, ingest
from ingress.batch_stream import numbered_lines
from ingress.key_policy import Principal
from ledger import admission, batch_feeder, journal
from ledger.batch_feeder import BatchFeeder, FeedPolicy, Outgoing, Tick
from ledger.settings import LedgerSettings
from runtime.catalogue_file import load_catalogue
from schemas.catalogue import Catalogue
from schemas.events import ChatJobSubmitted, encode
from stack.profiles import REPO_ROOT


@dataclasses.dataclass(slots=True)
class Paced:
    """The feeder as the ledger paces it, and when it first published after a top-up."""

    feeder: BatchFeeder
    interval_s: float
    idle_interval_s: float
    published_at: float | None = None
    published: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    ticks: int = 0
    stopping: bool = False

    async def publish(self, outgoing: Outgoing) -> None:
        for _, _, event in outgoing:
            encode(event)
        if outgoing and self.published_at is None:
            self.published_at = time.perf_counter()
            self.published.set()

    async def run(self, until: float) -> None:
        self.stopping = False
        while time.perf_counter() < until and not self.stopping:
            started = time.perf_counter()
            tick = await self.feeder.tick(self.publish, now=datetime.now(UTC))
            self.ticks += 1
            delay = self.interval_s if tick.active else max(self.interval_s, self.idle_interval_s)
            # The ledger's loop sleeps an interval after each tick; an idle feeder skips ticks until its idle
            # interval from the last tick's start has passed.
            await asyncio.sleep(delay if tick.active else max(0.0, started + delay - time.perf_counter()))


async def _next_hold(engine: AsyncEngine, catalogue: Catalogue, batch_id: str) -> int:
    """The hold of the batch's next line: what its workspace waits for."""
    async with engine.connect() as conn:
        job = (
            await conn.execute(
                text(
                    "SELECT l.job::text FROM batch_lines l JOIN batch_feeds f ON f.batch_id = l.batch_id "
                    "WHERE l.batch_id = :b AND l.line_no = f.next_line"
                ),
                {"b": batch_id},
            )
        ).scalar_one()
    return admission.hold_request(catalogue, ChatJobSubmitted.model_validate_json(job)).hold


def _lines_read(tick: Tick) -> int | None:
    """Lines the tick read (None from a feeder that does not say: the same file runs on the parent commit)."""
    read = getattr(tick, "lines_read", None)
    return None if read is None else int(read)


async def measure(url: str, *, lines: int, ticks: int, seconds: float, topups: int, policy: FeedPolicy) -> Any:
    catalogue = load_catalogue(REPO_ROOT / "config" / "models.toml")
    ledger = LedgerSettings.model_construct()
    counters = Counters()
    # One connection: every statement runs on the one backend measured.
    engine = create_async_engine(url, pool_size=1, max_overflow=0, connect_args=counters.connect_args())
    try:
        workspace_id = f"starved_{uuid.uuid4().hex[:8]}"
        async with engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="batch starved")
        stored = await ingest(
            engine,
            numbered_lines(_chunks(lines), line_max_bytes=1_048_576),
            principal=Principal(key_id="key_starved", workspace_id=workspace_id, default_model=None),
            catalogue=catalogue,
            options=BatchOptions(endpoint="/v1/chat/completions", completion_window_s=86_400),
            limits=IngestLimits(lines_max=1_000_000, errors_max=1000, messages_max=512, event_max_bytes=8 * 1024**2),
            now=datetime.now(UTC),
        )
        feeder = BatchFeeder(engine, catalogue, policy, lock_key=batch_feeder.feeder_lock_key(f"st-{uuid.uuid4()}"))
        paced = Paced(feeder, ledger.batch_feed_interval_s, ledger.batch_feed_idle_interval_s)
        found = await feeder.tick(paced.publish, now=datetime.now(UTC))
        assert found.released == 0 and found.active, found

        clock = Clock(await _backends(engine))
        counters.statements = 0
        read: list[int | None] = []
        clock.start()
        for _ in range(ticks):
            read.append(_lines_read(await feeder.tick(paced.publish, now=datetime.now(UTC))))
        counted = [n for n in read if n is not None]
        per_tick = {**clock.per(ticks, counters), "lines_read": round(sum(counted) / ticks, 1) if counted else None}

        clock.start()
        await paced.run(time.perf_counter() + seconds)
        used = clock.per(1)
        per_second = {
            "ticks_per_s": round(paced.ticks / seconds, 1),
            "cpu_share_of_a_core": round((used["python_cpu_us"] + used["postgres_cpu_us"]) / 1e6 / seconds, 4),
        }

        delays_ms: list[float] = []
        for _ in range(topups):
            loop = asyncio.create_task(paced.run(time.perf_counter() + 5.0))
            await asyncio.sleep(random.uniform(0.3, 0.8))
            needed = await _next_hold(engine, catalogue, stored.batch_id)
            paced.published_at = None
            paced.published.clear()
            async with engine.begin() as conn:
                await journal.grant(conn, workspace_id, needed, idempotency_key=f"topup:{uuid.uuid4()}")
            committed = time.perf_counter()
            await asyncio.wait_for(paced.published.wait(), timeout=4.0)
            paced.stopping = True
            await loop
            assert paced.published_at is not None
            delays_ms.append((paced.published_at - committed) * 1000)
        return {
            "lines": lines,
            "credit_recheck_s": getattr(policy, "credit_recheck_s", None),
            "per_tick_while_waiting": per_tick,
            "paced_while_waiting": per_second,
            "topup_to_first_line_ms": {
                "topups": topups,
                "p50": round(statistics.median(delays_ms), 1),
                "max": round(max(delays_ms), 1),
            },
        }
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch-starved", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("LUNTREX_TEST_DATABASE_URL"))
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--ticks", type=int, default=200, help="ticks measured back to back")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of the paced feeder measured")
    parser.add_argument("--topups", type=int, default=20)
    parser.add_argument(
        "--credit-recheck-s", type=float, default=None, help="0: re-read the waiting batch every tick (before)"
    )
    parser.add_argument("--name", default="batch_starved")
    arguments = parser.parse_args(argv)
    if not arguments.admin_url:
        parser.error("--admin-url (or LUNTREX_TEST_DATABASE_URL) is required")
    policy = LedgerSettings.model_construct().batch_feed_policy()
    if arguments.credit_recheck_s is not None:
        policy = dataclasses.replace(policy, credit_recheck_s=arguments.credit_recheck_s)
    url = ledger_bench.create_database(arguments.admin_url)
    try:
        cell = asyncio.run(
            measure(
                url,
                lines=arguments.lines,
                ticks=arguments.ticks,
                seconds=arguments.seconds,
                topups=arguments.topups,
                policy=policy,
            )
        )
    finally:
        ledger_bench.drop_database(arguments.admin_url, url)
    print(json.dumps(cell, indent=1))
    report.write(
        arguments.name,
        {"bench": "batch_starved", "command": " ".join(["python -m bench batch-starved", *argv]), **cell},
    )
    return 0
