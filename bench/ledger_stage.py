"""``python -m bench stage``: the ledger's two stages on PostgreSQL per job, in statements, round trips and CPU.

Runs the sync path's ledger work in-process, as the agents do, without Kafka: decode the submissions, admit
them (hold, limits, deadline, price book) and encode their dispatches, mark them dispatched, then decode
usage events, settle them (debit, crossing hook) and encode their results. Each stage runs in batches of
`--batch` jobs (1 is the c=1 path; 64 a saturated one). Reported per job: SQL statements, explicit commits
and round trips (statements plus a BEGIN and a COMMIT per explicit transaction, counted at the driver), this
process's CPU (user + system), the PostgreSQL backend's CPU (from /proc, the server runs on this machine) and
wall time. CPU and statement counts are far steadier than wall time on a shared machine: compare variants by
them.

Runs in a database it creates on the test PostgreSQL (`--admin-url`) and drops afterwards, on uvloop as the ledger does.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import uvloop
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import ledger_bench, report
from ledger import admission, driver, inbound, journal, settlement
from runtime.catalogue_file import load_catalogue
from schemas.catalogue import Catalogue
from schemas.events import (
    ChatJobSubmitted,
    ChatParameters,
    PromptMessage,
    UsageRecorded,
    encode,
)
from stack.profiles import REPO_ROOT

MODEL = "openai/gpt-4.1-mini"
# What `completed_usage` reports (the stage benches check the book against their sum per job).
COMPLETED_INPUT_TOKENS, COMPLETED_OUTPUT_TOKENS = 20, 60
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class Counters:
    """SQL statements and commits seen by the driver (each statement is one round trip outside a pipeline; each
    explicit transaction adds a BEGIN and a COMMIT).

    Counted on psycopg's own cursors and connections, not by SQLAlchemy's events: the ledger runs its hot path
    on the driver's connection and in the driver's transactions (ledger/driver.py), which SQLAlchemy never sees."""

    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0

    def connect_args(self) -> dict[str, Any]:
        counters = self

        class CountingCursor(psycopg.AsyncCursor[Any]):
            async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                # The ledger's own transactions are begun and committed by commands (ledger/driver.py).
                command = str(query).lstrip().upper()
                if command.startswith("COMMIT"):
                    counters.commits += 1
                elif not command.startswith(("BEGIN", "ROLLBACK")):
                    counters.statements += 1
                return await super().execute(query, *args, **kwargs)

        class CountingConnection(psycopg.AsyncConnection[Any]):
            async def commit(self) -> None:
                # SQLAlchemy's commit: psycopg sends COMMIT only when a transaction is open.
                if self.pgconn.transaction_status != TransactionStatus.IDLE:
                    counters.commits += 1
                await super().commit()

        return {"async_creator_fn": CountingConnection.connect, "cursor_factory": CountingCursor}


def _backend_cpu_s(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS_PER_S


def _submission(workspace_id: str, job_id: str) -> bytes:
    return encode(
        ChatJobSubmitted(
            workspace_id=workspace_id,
            job_id=job_id,
            api_key_id="key_stage",
            model_id=MODEL,
            route=(MODEL, "gemini/gemini-2.5-flash"),
            input_tokens_estimate=40,
            params=ChatParameters(
                messages=(PromptMessage(role="user", content="Write a short rhyming poem about the ocean."),),
                max_tokens=512,
            ),
        )
    )


def completed_usage(workspace_id: str, job_id: str) -> bytes:
    """A completed job's usage event as a worker publishes it (the stage benches settle these)."""
    return encode(
        UsageRecorded(
            workspace_id=workspace_id,
            job_id=job_id,
            outcome="completed",
            model_id=MODEL,
            provider="openai",
            input_tokens=COMPLETED_INPUT_TOKENS,
            output_tokens=COMPLETED_OUTPUT_TOKENS,
            answer="The ocean hums a silver tune, beneath the patient moon.",
            finish_reason="stop",
            attempts=1,
        )
    )


async def _stages(
    stage: driver.StageConnection, catalogue: Catalogue, payloads: list[bytes], usages: list[bytes]
) -> None:
    """One batch through both stages, as ledger/app.py runs them (publishing aside). The ledger keeps a connection
    per stage; here the stages run one after the other, so one connection serves both."""
    jobs = [inbound.submitted(payload, catalogue) for payload in payloads]
    async with stage.transaction() as conn:
        outcomes = await admission.admit(conn, catalogue, jobs, default_deadline_s=600, now=datetime.now(UTC))
    dispatched = [outcome[1] for outcome in outcomes if isinstance(outcome, tuple)]
    assert len(dispatched) == len(jobs), "every job of the stage bench is admitted"
    for dispatch in dispatched:
        encode(dispatch)
    async with stage.connection() as conn:
        await admission.mark_dispatched(conn, [dispatch.job_id for dispatch in dispatched])
    read = [inbound.usage(payload, catalogue) for payload in usages]
    async with stage.transaction() as conn:
        finished = await settlement.settle(conn, catalogue, read)
    assert len(finished) == len(read)
    for result in finished:
        encode(result)


async def measure(url: str, *, jobs: int, batch: int, warmup: int) -> dict[str, Any]:
    catalogue = load_catalogue(REPO_ROOT / "config" / "models.toml")
    counters = Counters()
    engine = create_async_engine(url, pool_size=1, connect_args=counters.connect_args())
    try:
        workspace_id = f"stage_{uuid.uuid4().hex[:8]}"
        async with engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="stage")
            await journal.grant(conn, workspace_id, 10**12, idempotency_key=f"grant:{workspace_id}")
        stage = driver.StageConnection(engine)
        async with stage.connection() as conn:
            backend = {int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())}
            await conn.rollback()
        ids = [f"job_{uuid.uuid4().hex}" for _ in range(warmup + jobs)]
        batches = [ids[start : start + batch] for start in range(0, len(ids), batch)]
        warm = [chunk for chunk in batches if chunk[0] in set(ids[:warmup])]
        timed = batches[len(warm) :]
        for chunk in warm:
            await _stages(
                stage,
                catalogue,
                [_submission(workspace_id, j) for j in chunk],
                [completed_usage(workspace_id, j) for j in chunk],
            )
        prepared = [
            ([_submission(workspace_id, j) for j in chunk], [completed_usage(workspace_id, j) for j in chunk])
            for chunk in timed
        ]
        done = sum(len(chunk) for chunk in timed)
        counters.statements = counters.commits = 0
        cpu_started, backend_started, started = time.process_time(), _backend_cpu_s(backend), time.perf_counter()
        for payloads, usages in prepared:
            await _stages(stage, catalogue, payloads, usages)
        wall_s = time.perf_counter() - started
        cpu_s, backend_s = time.process_time() - cpu_started, _backend_cpu_s(backend) - backend_started
        await stage.close()
        async with engine.connect() as conn:
            spent = (
                await conn.execute(
                    text("SELECT balance FROM ledger_accounts WHERE workspace_id = :ws AND kind = 'spent'"),
                    {"ws": workspace_id},
                )
            ).scalar_one()
        per_job = COMPLETED_INPUT_TOKENS + COMPLETED_OUTPUT_TOKENS
        assert spent == per_job * (warmup + jobs), f"spent {spent}, expected {per_job * (warmup + jobs)}"
        return {
            "batch": batch,
            "jobs": done,
            "statements_per_job": round(counters.statements / done, 3),
            # Explicit transactions cost a BEGIN and a COMMIT round trip each; an autocommit statement costs none.
            "commits_per_job": round(counters.commits / done, 3),
            "round_trips_per_job": round((counters.statements + 2 * counters.commits) / done, 3),
            "ledger_cpu_ms_per_job": round(cpu_s * 1000 / done, 3),
            "postgres_cpu_ms_per_job": round(backend_s * 1000 / done, 3),
            "wall_ms_per_job": round(wall_s * 1000 / done, 3),
            "billing_exact": True,
        }
    finally:
        await engine.dispose()


async def run(admin_url: str, jobs: int, batches: Sequence[int]) -> list[dict[str, Any]]:
    url = ledger_bench.create_database(admin_url)
    try:
        return [await measure(url, jobs=jobs, batch=batch, warmup=max(batch, 50)) for batch in batches]
    finally:
        ledger_bench.drop_database(admin_url, url)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench stage", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("LUNTREX_TEST_DATABASE_URL"), required=False)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--batch", default="1,64", help="batch sizes, comma separated (default 1,64)")
    parser.add_argument("--name", default="ledger_stage")
    arguments = parser.parse_args(argv)
    if not arguments.admin_url:
        parser.error("--admin-url (or LUNTREX_TEST_DATABASE_URL) is required")
    batches = [int(part) for part in arguments.batch.split(",") if part.strip()]
    # On uvloop, as the ledger runs (ledger/__main__.py).
    cells = uvloop.run(run(arguments.admin_url, arguments.jobs, batches))
    print(json.dumps(cells, indent=1))
    report.write(
        arguments.name, {"bench": "ledger_stage", "command": " ".join(["python -m bench stage", *argv]), "cells": cells}
    )
    return 0
