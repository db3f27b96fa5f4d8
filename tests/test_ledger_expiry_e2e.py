"""Expiry works in every deployment: the sweep runs on a timer on each ledger instance, not on a leader.

Nothing here publishes an expiry event: a job goes to a model whose worker pool is not running, and the
ledgers' own timers (two instances, one advisory lock) must expire it and release its hold.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.events import JobFinished, UsageRecorded, decode
from tests import services
from tests.conftest import Stack, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import assert_books_balance, balances, entries_for
from tests.processes import Service, free_port
from tests.topic_cleanup import ensure_topics

DEADLINE_S = 3


@dataclass
class NoWorkers:
    """Ingress and two ledgers on their own database and topics, and no worker pool at all."""

    base_url: str
    database_url: str
    topic_prefix: str
    ledgers: list[Service]


@pytest.fixture(scope="module")
def no_workers(stack: Stack, catalogue: Catalogue) -> Iterator[NoWorkers]:
    database_url = services.create_database()
    prefix = f"x{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(ServiceSettings(kafka_bootstrap_servers=stack.kafka), topic_plan(catalogue, prefix)))
    env = {
        **stack.ledger.env,
        "LUNTREX_DATABASE_URL": database_url,
        "LUNTREX_TOPIC_PREFIX": prefix,
        "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
        "LUNTREX_JOB_DEADLINE_S": str(DEADLINE_S),
        "LUNTREX_EXPIRY_SWEEP_INTERVAL_S": "0.5",
    }
    port = free_port()
    workdir = stack.ledger.workdir
    ledgers = [Service(f"expiry-ledger-{n}", ["ledger"], env, workdir) for n in (1, 2)]
    ingress = Service("expiry-ingress", ["ingress", "--port", str(port)], env, workdir)
    parts = [*ledgers, ingress]
    try:
        for part in parts:
            part.start()
        yield NoWorkers(f"http://127.0.0.1:{port}/api/v1", database_url, prefix, ledgers)
    finally:
        for part in reversed(parts):
            part.stop()
        services.drop_database(database_url)


async def test_a_job_nobody_runs_expires_by_its_deadline_releases_its_hold_and_a_late_answer_is_free(
    no_workers: NoWorkers, stack: Stack
) -> None:
    engine = create_async_engine(no_workers.database_url)
    try:
        workspace = await make_workspace(engine, tokens=10_000)
        async with httpx.AsyncClient(base_url=no_workers.base_url, timeout=30) as client:
            headers = {**workspace.headers, "Prefer": "respond-async"}
            body = {"messages": [{"role": "user", "content": "anyone there?"}], "max_tokens": 64}
            accepted = await client.post("/chat/completions", json=body, headers=headers)
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["id"]
            started = time.monotonic()
            while (await balances(engine, workspace.id))["held"] == 0:
                assert time.monotonic() - started < DEADLINE_S - 1, "the job was not admitted in time"
                await asyncio.sleep(0.05)
            polled = {}
            while time.monotonic() - started < DEADLINE_S + 20:
                polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
                if polled["status"] != "queued":
                    break
                await asyncio.sleep(0.2)
        assert polled["status"] == "expired" and polled["error"]["code"] == "expired", polled
        assert time.monotonic() - started >= DEADLINE_S - 1  # not before its deadline
        assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
        async with engine.connect() as conn:
            deadline_at, created_at = (
                await conn.execute(text("SELECT deadline_at, created_at FROM jobs WHERE id = :id"), {"id": job_id})
            ).one()
        assert 0 < (deadline_at - created_at).total_seconds() <= DEADLINE_S + 1

        # A provider answer arriving after the expiry (as a worker would publish it) is not billed.
        late = UsageRecorded(
            workspace_id=workspace.id,
            job_id=job_id,
            outcome="completed",
            model_id="openai/gpt-4.1-mini",
            provider="openai",
            input_tokens=10,
            output_tokens=20,
            answer="too late",
        )
        usage_topic = topics.prefixed(no_workers.topic_prefix, topics.JOBS_USAGE)
        await publish(stack.kafka, usage_topic, topics.ledger_key(workspace.id), late.model_dump_json().encode())
        results_topic = topics.prefixed(no_workers.topic_prefix, topics.JOBS_RESULTS)
        deadline = time.monotonic() + 15
        results: list[JobFinished] = []
        while time.monotonic() < deadline and len(results) < 2:
            values = await read_all(stack.kafka, results_topic, key=topics.job_key(job_id))
            results = [decode(JobFinished, value) for value in values]
            await asyncio.sleep(0.2)
        assert len(results) >= 2 and {r.status for r in results} == {"expired"}
        assert {r.cost_tokens for r in results} == {0}
        assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
        assert await entries_for(engine, job_id) == ["hold", "release"]
        await assert_books_balance(engine)
        # Both instances ran the timer; the log shows who swept (one at a time, under the lock).
        swept = [ledger.name for ledger in no_workers.ledgers if "expiry sweep:" in ledger.log_tail(400)]
        assert swept, "no ledger instance swept"
    finally:
        await engine.dispose()


async def test_a_job_arriving_after_its_deadline_is_expired_without_a_hold(no_workers: NoWorkers, stack: Stack) -> None:
    engine = create_async_engine(no_workers.database_url)
    try:
        workspace = await make_workspace(engine, tokens=10_000)
        job_id = f"job_{uuid.uuid4().hex}"
        document = {
            "type": "chat.job.submitted",
            "workspace_id": workspace.id,
            "job_id": job_id,
            "api_key_id": workspace.key_id,
            "model_id": "openai/gpt-4.1-mini",
            "route": ["openai/gpt-4.1-mini"],
            "input_tokens_estimate": 5,
            "params": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16},
            "deadline_at": "2020-01-01T00:00:00Z",
        }
        topic = topics.prefixed(no_workers.topic_prefix, topics.JOBS_SUBMITTED)
        await publish(stack.kafka, topic, topics.ledger_key(workspace.id), json.dumps(document).encode())
        results_topic = topics.prefixed(no_workers.topic_prefix, topics.JOBS_RESULTS)
        deadline = time.monotonic() + 15
        results: list[JobFinished] = []
        while time.monotonic() < deadline and not results:
            values = await read_all(stack.kafka, results_topic, key=topics.job_key(job_id))
            results = [decode(JobFinished, value) for value in values]
            await asyncio.sleep(0.2)
        assert [(r.status, r.error.code if r.error else None) for r in results] == [("expired", "expired")]
        assert await entries_for(engine, job_id) == []
        assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
    finally:
        await engine.dispose()
