"""Idempotency that cannot lie: kill -9 between claim and publish, a Kafka outage, a retried failed job, a
poisoned result record. Each key names a job that really runs, is billed once, and is never a 404."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import acceptance
from schemas import topics
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, encode, utc_now
from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances
from tests.processes import Service, free_port
from tests.tcp_proxy import TcpProxy

TERMINAL = {"completed", "failed", "rejected", "expired"}


class Ingress:
    """A second ingress process of the test stack, started and killed by the test alone."""

    def __init__(self, stack: Stack, catalogue_path: Path, workdir: Path, *, kafka: str, **settings: str) -> None:
        self.port = free_port()
        env = {
            "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "LUNTREX_DATABASE_URL": stack.database_url,
            "LUNTREX_TOPIC_PREFIX": stack.topic_prefix,
            "LUNTREX_CATALOGUE_PATH": str(catalogue_path),
            "LUNTREX_RELAY_GRACE_S": "1",
            "LUNTREX_RELAY_INTERVAL_S": "0.5",
            **{f"LUNTREX_{name.upper()}": value for name, value in settings.items()},
        }
        self.service = Service(f"ingress-{self.port}", ["ingress", "--port", str(self.port)], env, workdir)
        self.base_url = f"http://127.0.0.1:{self.port}/api/v1"

    async def start(self) -> None:
        # Off the event loop: the Kafka proxy the process may connect through runs on it.
        await asyncio.to_thread(self.service.start)

    def kill(self) -> None:
        self.service.kill()


@pytest.fixture
async def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def proxy(stack: Stack) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(stack.kafka, free_port(), kafka=True)
    await proxy.start()
    yield proxy
    await proxy.cut()


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 20, **extra}


async def post(client: httpx.AsyncClient, ws: Workspace, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/chat/completions", json=body, headers={**ws.headers, **headers})


async def poll_terminal(client: httpx.AsyncClient, ws: Workspace, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """Poll a job until it is terminal; a 404 at any moment is a lie told earlier."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await client.get(f"/jobs/{job_id}", headers=ws.headers)
        assert response.status_code == 200, f"job {job_id}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        if body["status"] in TERMINAL:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never finished")


async def another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=5_000)
    response = await post(client, other, chat("still flowing?"), Prefer="wait=30")
    assert response.status_code == 200, response.text


async def unpublished(engine: AsyncEngine, workspace_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT job_id FROM accepted_jobs WHERE workspace_id = :ws AND published_at IS NULL"),
            {"ws": workspace_id},
        )
    return [row.job_id for row in rows]


async def fire(client: httpx.AsyncClient, ws: Workspace, keys: dict[str, dict[str, Any]], count: int) -> list[Any]:
    """`count` concurrent keyed requests; returns their responses or transport errors (a killed ingress)."""
    batch = {f"k-{uuid.uuid4()}": chat(f"request {uuid.uuid4().hex[:6]}") for _ in range(count)}
    keys.update(batch)
    return await asyncio.gather(
        *(post(client, ws, body, **{"Idempotency-Key": key}) for key, body in batch.items()), return_exceptions=True
    )


async def test_kill9_between_claim_and_publish_leaves_no_phantom_job(
    stack: Stack, engine: AsyncEngine, catalogue_path: Path, workdir: Path, proxy: TcpProxy, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    keys: dict[str, dict[str, Any]] = {}

    # Round 1: the broker stalls, so every request is claimed and outboxed but none is published; kill -9.
    stalled = Ingress(stack, catalogue_path, workdir, kafka=proxy.address, publish_timeout_s="30")
    await stalled.start()
    proxy.stall()
    async with httpx.AsyncClient(base_url=stalled.base_url, timeout=60) as doomed:
        requests = asyncio.ensure_future(fire(doomed, workspace, keys, 20))
        for _ in range(200):
            if len(await unpublished(engine, workspace.id)) == 20:
                break
            await asyncio.sleep(0.1)
        claimed = await unpublished(engine, workspace.id)
        assert len(claimed) == 20, "every request should be claimed and waiting on the broker at the kill"
        stalled.kill()
        assert all(isinstance(r, httpx.TransportError) for r in await requests)
    await proxy.cut()
    # Before any relay ran, the claimed jobs are visible to polling (queued), never a 404.
    for job_id in claimed[:3]:
        polled = await client.get(f"/jobs/{job_id}", headers=workspace.headers)
        assert polled.status_code == 200 and polled.json()["status"] == "queued"

    # Rounds 2-4: load on a healthy ingress, kill -9 at different moments.
    cut_short = 0
    for kill_after_s in (0.05, 0.2, 0.5):
        loaded = Ingress(stack, catalogue_path, workdir, kafka=stack.kafka)
        await loaded.start()
        async with httpx.AsyncClient(base_url=loaded.base_url, timeout=60) as doomed:
            requests = asyncio.ensure_future(fire(doomed, workspace, keys, 30))
            await asyncio.sleep(kill_after_s)
            loaded.kill()
            cut_short += sum(isinstance(r, httpx.TransportError) for r in await requests)
    assert cut_short > 0, "no request was in flight at any kill"

    # A fresh ingress relays what the dead ones left; every retry with the same key gets its one job.
    survivor = Ingress(stack, catalogue_path, workdir, kafka=stack.kafka)
    await survivor.start()
    try:
        async with httpx.AsyncClient(base_url=survivor.base_url, timeout=60) as retrying:
            retries = await asyncio.gather(
                *(
                    post(retrying, workspace, body, **{"Idempotency-Key": k}, Prefer="wait=45")
                    for k, body in keys.items()
                )
            )
            assert {r.status_code for r in retries} == {200}, [r.text for r in retries if r.status_code != 200]
            again = await asyncio.gather(
                *(post(retrying, workspace, body, **{"Idempotency-Key": k}) for k, body in keys.items())
            )
    finally:
        survivor.kill()
    assert [r.json()["id"] for r in again] == [r.json()["id"] for r in retries]
    assert all(r.headers["idempotent-replayed"] == "true" for r in again)
    assert set(claimed) <= {r.json()["id"] for r in retries}, "a claimed job was replaced instead of relayed"

    async with engine.connect() as conn:
        jobs = (
            await conn.execute(
                text("SELECT id, status, cost_tokens FROM jobs WHERE workspace_id = :ws"), {"ws": workspace.id}
            )
        ).all()
    assert len(jobs) == len(keys), "each key must name exactly one job"
    assert {job.status for job in jobs} == {"completed"}
    assert (await balances(engine, workspace.id))["spent"] == sum(job.cost_tokens for job in jobs)
    assert (await balances(engine, workspace.id))["held"] == 0
    await assert_books_balance(engine)
    await another_workspace_completes(client, engine)


async def test_while_kafka_is_unreachable_callers_get_503_within_their_wait(
    stack: Stack, engine: AsyncEngine, catalogue_path: Path, workdir: Path, proxy: TcpProxy, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    ingress = Ingress(stack, catalogue_path, workdir, kafka=proxy.address)
    await ingress.start()
    try:
        async with httpx.AsyncClient(base_url=ingress.base_url, timeout=60) as through_proxy:
            assert (await post(through_proxy, workspace, chat("before the outage"))).status_code == 200
            await proxy.cut()
            answers: list[tuple[httpx.Response, str | None, dict[str, Any]]] = []
            for i in range(8):
                key = f"outage-{uuid.uuid4()}" if i % 2 else None
                body = chat(f"during the outage {i}")
                headers = {"Prefer": "wait=5"} | ({"Idempotency-Key": key} if key else {})
                started = time.monotonic()
                response = await post(through_proxy, workspace, body, **headers)
                assert time.monotonic() - started < 9, "a caller waited out the outage"
                answers.append((response, key, body))
            refused = [r for r, _, _ in answers if r.status_code == 503]
            accepted = [r for r, _, _ in answers if r.status_code == 202]
            assert refused, "no caller was told the queue is unreachable"
            assert len(refused) + len(accepted) == len(answers), [r.text for r, _, _ in answers]
            for response in refused:
                assert response.headers["retry-after"] and response.json()["code"] == "unavailable"

            await proxy.start()
            # Ambiguous publications were answered 202 with the job: each reaches a terminal state, billed once.
            finished = [await poll_terminal(client, workspace, r.json()["id"]) for r in accepted]
            assert all(job["status"] == "completed" for job in finished)
            # A refused keyed request left its key free: the retry is a new job, not a replay.
            for response, key, body in answers:
                if key is None:
                    continue
                retry = await post(through_proxy, workspace, body, **{"Idempotency-Key": key}, Prefer="wait=30")
                assert retry.status_code == 200, retry.text
                assert (retry.headers.get("idempotent-replayed") == "true") == (response.status_code == 202)
    finally:
        ingress.kill()
    async with engine.connect() as conn:
        costs = (
            await conn.execute(
                text("SELECT status, cost_tokens FROM jobs WHERE workspace_id = :ws"), {"ws": workspace.id}
            )
        ).all()
    assert {job.status for job in costs} == {"completed"}
    assert (await balances(engine, workspace.id))["spent"] == sum(job.cost_tokens for job in costs)
    await assert_books_balance(engine)
    await another_workspace_completes(client, engine)


async def test_a_job_that_failed_with_nothing_charged_is_retried_under_its_key(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    # The fake provider fails the first three calls (every attempt of the first job), then answers.
    body = chat(f"[fake fail_status=500 fail_times=3 latency_ms={uuid.uuid4().int % 97 + 3}] flaky", model="test/slow")

    first = await post(client, workspace, body, **key)
    assert first.status_code == 502 and first.json()["code"] == "upstream_error"
    assert "idempotent-replayed" not in first.headers
    second = await post(client, workspace, body, **key)
    assert second.status_code == 200, second.text
    assert "idempotent-replayed" not in second.headers, "a new attempt is not a replay"
    third = await post(client, workspace, body, **key)
    assert third.status_code == 200 and third.headers["idempotent-replayed"] == "true"
    assert third.json()["id"] == second.json()["id"]
    assert (await balances(engine, workspace.id))["spent"] == second.json()["cost"]

    # A failure that retrying cannot fix (no credit) is replayed as it was, and says so.
    broke = await make_workspace(engine, tokens=0)
    refused = await post(client, broke, chat("no money"), **key)
    replayed = await post(client, broke, chat("no money"), **key)
    assert refused.status_code == replayed.status_code == 403
    assert replayed.headers["idempotent-replayed"] == "true"
    async with engine.connect() as conn:
        broke_jobs = (
            await conn.execute(text("SELECT count(*) FROM jobs WHERE workspace_id = :ws"), {"ws": broke.id})
        ).scalar_one()
    assert broke_jobs == 1
    await another_workspace_completes(client, engine)


async def test_an_undecodable_result_record_does_not_end_reply_delivery(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    waiting = asyncio.ensure_future(
        post(client, workspace, chat("[fake latency_ms=2500] slow one", model="test/slow"), Prefer="wait=30")
    )
    deadline = time.monotonic() + 20
    job_id = None
    while job_id is None and time.monotonic() < deadline:
        async with engine.connect() as conn:
            job_id = (
                await conn.execute(text("SELECT id FROM jobs WHERE workspace_id = :ws"), {"ws": workspace.id})
            ).scalar()
        await asyncio.sleep(0.05)
    assert job_id is not None

    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        results = topics.prefixed(stack.topic_prefix, topics.JOBS_RESULTS)
        await producer.send_and_wait(results, b"\x00not json at all", key=topics.job_key(job_id))
        await producer.send_and_wait(results, b'{"type": "chat.job.finished"}', key=b"job_nobody_waits")
    finally:
        await producer.stop()

    # The waiter reads the job from the book instead: still running, so a 202 it can poll, never a 5xx.
    response = await waiting
    assert response.status_code in (200, 202), response.text
    if response.status_code == 202:
        assert (await poll_terminal(client, workspace, job_id))["status"] == "completed"
    # Replies keep flowing to sync callers of this ingress.
    for _ in range(3):
        await another_workspace_completes(client, engine)


async def test_a_job_acknowledged_but_never_recorded_is_published_again_past_its_deadline(
    stack: Stack, engine: AsyncEngine, catalogue_path: Path, workdir: Path, client: httpx.AsyncClient
) -> None:
    """The broker acknowledged a job and then lost it (one replica, a disk gone): the relay notices the ledger
    never recorded it once its deadline has passed, and publishes it again so it still ends terminal."""
    workspace = await make_workspace(engine, tokens=5_000)
    job = ChatJobSubmitted(
        workspace_id=workspace.id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id=workspace.key_id,
        model_id="openai/gpt-4.1-mini",
        route=("openai/gpt-4.1-mini",),
        input_tokens_estimate=20,
        params=ChatParameters(messages=(PromptMessage(role="user", content="lost once"),), max_tokens=20),
        deadline_at=utc_now() - timedelta(seconds=5),
    )
    async with engine.begin() as conn:
        await acceptance.record(
            conn,
            job_id=job.job_id,
            workspace_id=job.workspace_id,
            model_id=job.model_id,
            event=encode(job),
            deadline_at=job.deadline_at,
            acknowledged=True,
        )
    assert (await client.get(f"/jobs/{job.job_id}", headers=workspace.headers)).json()["status"] == "queued"

    relaying = Ingress(stack, catalogue_path, workdir, kafka=stack.kafka)
    await relaying.start()
    try:
        finished = await poll_terminal(client, workspace, job.job_id)
    finally:
        relaying.kill()
    # Until the ledger refuses late jobs at admission it runs it; either way it ends, billed at most once.
    assert finished["status"] in TERMINAL
    assert (await balances(engine, workspace.id))["held"] == 0
    assert (await balances(engine, workspace.id))["spent"] == finished.get("cost", 0)
    await assert_books_balance(engine)
    await another_workspace_completes(client, engine)


async def test_while_the_database_is_unreachable_no_caller_is_told_a_lie(
    stack: Stack, engine: AsyncEngine, catalogue_path: Path, workdir: Path, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    database = stack.database_url.split("@", 1)[1].split("/", 1)[0]
    db_proxy = TcpProxy(database, free_port(), kafka=False)
    await db_proxy.start()
    # The key is cached for the whole test, so authentication needs no database while it is away.
    ingress = Ingress(
        stack,
        catalogue_path,
        workdir,
        kafka=stack.kafka,
        database_url=stack.database_url.replace(database, db_proxy.address),
        key_cache_ttl_s="300",
    )
    await ingress.start()
    key = {"Idempotency-Key": f"db-{uuid.uuid4()}"}
    keyed_body = chat("keyed while the database is away")
    try:
        async with httpx.AsyncClient(base_url=ingress.base_url, timeout=60) as cut_off:
            assert (await post(cut_off, workspace, chat("warm the key cache"))).status_code == 200
            await db_proxy.cut()
            # The plain sync path writes nothing of its own: it is served while the database is away.
            plain = await post(cut_off, workspace, chat("plain while the database is away"))
            assert plain.status_code == 200, plain.text
            # A key cannot be claimed: nothing is accepted, and the caller is told so.
            keyed = await post(cut_off, workspace, keyed_body, **key)
            assert keyed.status_code == 503 and keyed.json()["code"] == "unavailable", keyed.text
            assert keyed.headers["retry-after"]
            # The job was published, then the wait ended and it could not be recorded: still a 202, never a 500.
            early = await post(cut_off, workspace, chat("[fake latency_ms=300] early"), Prefer="wait=0")
            assert early.status_code == 202, early.text
            # The ingress that told the 202 answers polls for the job at once, although nothing is recorded yet.
            queued = await cut_off.get(f"/jobs/{early.json()['id']}", headers=workspace.headers)
            assert queued.status_code == 200 and queued.json()["status"] == "queued", queued.text
            await db_proxy.start()
            # Polled through the ingress that told the 202, then through another one: never a 404.
            assert (await poll_terminal(cut_off, workspace, early.json()["id"]))["status"] == "completed"
            assert (await poll_terminal(client, workspace, early.json()["id"]))["status"] == "completed"
            retry = await post(cut_off, workspace, keyed_body, **key)
            assert retry.status_code == 200 and "idempotent-replayed" not in retry.headers
    finally:
        ingress.kill()
        await db_proxy.cut()
    async with engine.connect() as conn:
        jobs = (
            await conn.execute(
                text("SELECT status, cost_tokens FROM jobs WHERE workspace_id = :ws"), {"ws": workspace.id}
            )
        ).all()
    assert len(jobs) == 4 and {job.status for job in jobs} == {"completed"}
    assert (await balances(engine, workspace.id))["spent"] == sum(job.cost_tokens for job in jobs)
    await assert_books_balance(engine)
    await another_workspace_completes(client, engine)
