"""Early starts end to end (workers/early_start.py, ingress/early_start.py), on the real services.

A funded workspace's stream starts its provider call while the ledger holds the credit and is billed once from
that one call; a job the ledger refuses after its early start sends the caller nothing of the answer (though
the early call streamed), charges nothing and leaves its call cancelled; a worker killed while streaming such a
job still ends it billed once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import ChatJobHeld, ChatJobSubmitted, ChatParameters, ChatStreamDelta, PromptMessage, decode, encode
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import balances
from tests.metrics_scrape import scrape, value

MODEL = "openai/gpt-4.1-mini"
UPSTREAM = "gpt-4.1-mini"


async def fake_calls(stack: Stack) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        calls: dict[str, int] = (await fake.get("/_fake/calls")).json()["calls"].get(UPSTREAM, {"received": 0})
    return calls


async def early_starts(stack: Stack, outcome: str) -> float:
    _, samples = await scrape(stack.metrics_urls["workers"])
    return value(samples, "luntrex_worker_early_starts_total", outcome=outcome)


async def stream(client: httpx.AsyncClient, workspace: Workspace, text: str, **extra: Any) -> dict[str, Any]:
    """One native stream: its status, its text, its `done` event (usage, cost) and its error event, if any."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 24, "stream": True}
    answer: dict[str, Any] = {"text": "", "done": None, "error": None}
    async with client.stream("POST", "/chat/completions", headers=workspace.headers, json=body | extra) as response:
        answer["status"] = response.status_code
        answer["job_id"] = response.headers.get("x-luntrex-job-id")
        if response.status_code != 200:
            answer["body"] = orjson.loads(await response.aread())
            return answer
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
                if name == "delta":
                    answer["text"] += data["delta"]
                elif name in ("done", "error"):
                    answer[name] = data
    return answer


async def until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_a_funded_stream_starts_early_and_is_billed_once_from_one_call(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    # The first stream shows this ingress the workspace's balance; the second may then start early.
    warm = await stream(client, workspace, "Say hi to the sea")
    assert warm["status"] == 200 and warm["done"] is not None
    claimed, calls = await early_starts(stack, "claimed"), (await fake_calls(stack))["received"]
    second = await stream(client, workspace, "Tell the waves a story [fake stream_chunk_ms=5]")
    assert second["status"] == 200, second
    assert second["text"].startswith("Echo: Tell the waves a story")
    assert await early_starts(stack, "claimed") == claimed + 1
    assert (await fake_calls(stack))["received"] == calls + 1, "the dispatch took the early call: one call per job"
    spent = (await balances(engine, workspace.id))["spent"]
    assert spent == warm["done"]["cost"] + second["done"]["cost"]


async def test_a_job_refused_after_its_early_start_sends_nothing_and_costs_nothing(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    # A key allowed one request a minute: the ledger refuses the second, which the gate (having seen only
    # ample credit) starts early.
    minted = await client.post("/keys", json={"name": "one a minute", "rpm_max": 1}, headers=workspace.headers)
    assert minted.status_code == 201, minted.text
    limited = Workspace(id=workspace.id, api_key=minted.json()["key"], key_id=minted.json().get("id", ""))
    # Both requests in one minute's window (and past the key cache's TTL of the test stack, 1 s).
    second = datetime.now(UTC).second
    await asyncio.sleep(60.5 - second if second >= 45 else 1.5)
    warm = await stream(client, limited, "Say hi to the sea")
    assert warm["status"] == 200 and warm["done"] is not None
    unclaimed, calls = await early_starts(stack, "unclaimed"), (await fake_calls(stack))["received"]
    refused = await stream(client, limited, "A long secret tale [fake stream_chunk_ms=50]")
    assert refused["status"] == 429 and refused["body"]["code"] == "rate_limit_exceeded", refused
    # The provider was called early, and that call is cancelled once no dispatch claims it.
    assert (await fake_calls(stack))["received"] == calls + 1

    async def cancelled() -> bool:
        return await early_starts(stack, "unclaimed") == unclaimed + 1

    await until(cancelled)
    # The early call did stream (its deltas are on `jobs.stream`), yet the caller got not one byte of them: ingress
    # holds an early start's deltas until the ledger says the credit is held, which it never did.
    records = await read_all(stack.kafka, f"{stack.topic_prefix}{topics.JOBS_STREAM}")
    deltas = [decode(ChatStreamDelta, v) for v in records if not ChatJobHeld.is_one(v)]
    assert [d for d in deltas if d.workspace_id == workspace.id and "secret" in d.text]
    assert "secret" not in orjson.dumps(refused["body"]).decode()
    assert (await balances(engine, workspace.id))["spent"] == warm["done"]["cost"]
    other = await make_workspace(engine, tokens=10_000)
    assert (await stream(client, other, "still served"))["done"] is not None


async def test_workers_killed_mid_stream_after_an_early_start_bill_the_job_once(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    warm = await stream(client, workspace, "Say hi to the sea")
    assert warm["done"] is not None
    calls = (await fake_calls(stack))["received"]
    running = asyncio.create_task(stream(client, workspace, "A slow ballad [fake stream_chunk_ms=150]", max_tokens=40))

    async def streaming() -> bool:
        return (await fake_calls(stack))["received"] > calls

    await until(streaming)
    await asyncio.sleep(1.0)  # some of it reached the caller (a piece every 150 ms)
    stack.workers.kill()
    stack.workers.start()
    ended = await asyncio.wait_for(running, timeout=120)
    assert ended["status"] == 200 and (ended["done"] is not None or ended["error"] is not None)
    job_id = ended["job_id"]

    async def billed() -> bool:
        view = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        return bool(view.get("status") == "completed")

    await until(billed, timeout_s=60)
    view = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
    spent = (await balances(engine, workspace.id))["spent"]
    assert spent == warm["done"]["cost"] + view["cost"], "the job is billed exactly once"
    other = await make_workspace(engine, tokens=10_000)
    assert (await stream(client, other, "still served"))["done"] is not None


async def test_hostile_early_starts_on_the_dispatch_topic_cost_nothing_and_others_complete(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    """Whatever reaches a worker lane marked as an early start (only ingress writes there, but a bug or a replay
    might): garbage, NUL and control characters, a huge record, absurd values, a job that names no workspace the
    ledger knows. None of it is run as a job, reported, dead-lettered as a failed job or billed."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    calls = (await fake_calls(stack))["received"]
    unreadable, unclaimed = await early_starts(stack, "unreadable"), await early_starts(stack, "unclaimed")
    topic = topics.prefixed(stack.topic_prefix, topics.dispatch_topic("openai", topics.Lane.INTERACTIVE))
    job: dict[str, Any] = {
        "workspace_id": "ws_nobody",
        "job_id": "job_hostile_early",
        "api_key_id": "k",
        "model_id": MODEL,
        "route": [MODEL],
        "input_tokens_estimate": 10,
        "params": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10},
    }
    hostile = [
        b"",
        b"\x00\x01\x02\xff",
        b"A" * 900_000,
        orjson.dumps({"type": "chat.job.early_start", "version": 1, "job": {**job, "job_id": "\x00\u2028" * 50}}),
        orjson.dumps({"type": "chat.job.early_start", "version": 1, "job": {**job, "route": []}}),
        # Past 64 bits: orjson refuses to write it, the standard library does.
        json.dumps(
            {
                "type": "chat.job.early_start",
                "version": 1,
                "job": {**job, "job_id": "job_hostile_absurd", "params": {**job["params"], "max_tokens": 2**70}},
            }
        ).encode(),
        orjson.dumps(
            {
                "type": "chat.job.early_start",
                "version": 1,
                "job": {**job, "job_id": "job_hostile_model", "model_id": "no/such-model"},
            }
        ),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, max_request_size=2_000_000)
    await producer.start()
    try:
        for payload in hostile:
            await producer.send_and_wait(
                topic, payload, key=b"job_hostile_early", headers=[(topics.EARLY_START_HEADER, b"1")]
            )
    finally:
        await producer.stop()

    # Four do not read. Three do (a job id of NUL and line separators, an absurd max_tokens, a model the route
    # does not name): their calls start, no dispatch ever claims them, and they are cancelled.
    async def all_read() -> bool:
        return await early_starts(stack, "unreadable") >= unreadable + 4

    async def all_cancelled() -> bool:
        return await early_starts(stack, "unclaimed") >= unclaimed + 3

    await until(all_read)
    await until(all_cancelled)
    assert (await fake_calls(stack))["received"] <= calls + 3
    answered = await stream(client, workspace, "still served after the garbage")
    assert answered["done"] is not None and answered["text"].startswith("Echo: still served")
    assert (await balances(engine, workspace.id))["spent"] == answered["done"]["cost"]


async def held_notices(stack: Stack, job_id: str) -> int:
    """How many held notices the ledger published on `jobs.stream` for this job (the job has its result by then:
    the notice goes out with the dispatch, before any result)."""
    records = await read_all(stack.kafka, f"{stack.topic_prefix}{topics.JOBS_STREAM}", key=topics.job_key(job_id))
    return sum(1 for value in records if ChatJobHeld.is_one(value))


async def test_every_stream_gets_a_held_notice_whether_started_early_or_not(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    # This ingress has not seen the workspace yet: the gate sends no early start. The ledger sends the notice all
    # the same (the stream starts on it, README "Streaming"), and the stream streams.
    claimed = await early_starts(stack, "claimed")
    plain = await stream(client, workspace, "Sing of the shore [fake stream_chunk_ms=5]")
    assert plain["status"] == 200 and plain["done"] is not None, plain
    assert plain["text"].startswith("Echo: Sing of the shore")
    assert await early_starts(stack, "claimed") == claimed, "the gate sent no early start"
    assert await held_notices(stack, plain["job_id"]) == 1
    # Now the workspace is seen well funded: the next stream starts early and gets its notice, which is also what
    # lets ingress send the deltas it kept.
    early = await stream(client, workspace, "Sing of the tide [fake stream_chunk_ms=5]")
    assert early["status"] == 200 and early["done"] is not None, early
    assert early["text"].startswith("Echo: Sing of the tide")
    assert await early_starts(stack, "claimed") == claimed + 1
    assert await held_notices(stack, early["job_id"]) == 1
    spent = (await balances(engine, workspace.id))["spent"]
    assert spent == plain["done"]["cost"] + early["done"]["cost"]


async def test_a_submission_whatever_its_early_start_field_says_gets_its_notice(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    """Rolling upgrades: an older ingress's submission does not say whether it started the job early; one from before
    every stream got a notice says `false` when it did not. Both get the notice, run and are billed."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    older, told = f"job_{uuid.uuid4().hex}", f"job_{uuid.uuid4().hex}"
    sent: dict[str, bool | None] = {older: None, told: False}
    for job_id, early_start in sent.items():
        job = ChatJobSubmitted(
            workspace_id=workspace.id,
            job_id=job_id,
            api_key_id=workspace.key_id,
            model_id=MODEL,
            route=(MODEL,),
            input_tokens_estimate=20,
            params=ChatParameters(
                messages=(PromptMessage(role="user", content="from an older door"),), max_tokens=16, stream=True
            ),
            early_start=early_start,
        )
        event = encode(job)
        # The older ingress's shape: no such field at all.
        assert (b'"early_start"' in event) is (early_start is not None)
        await publish(stack.kafka, topic, topics.ledger_key(workspace.id), event)

    async def completed() -> bool:
        views = [(await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json() for job_id in sent]
        return all(view.get("status") == "completed" for view in views)

    await until(completed)
    assert await held_notices(stack, older) == 1
    assert await held_notices(stack, told) == 1
    # Both streamed their text to `jobs.stream` (nobody listened; the billed answer is on the job).
    records = await read_all(stack.kafka, f"{stack.topic_prefix}{topics.JOBS_STREAM}")
    deltas = [decode(ChatStreamDelta, v) for v in records if not ChatJobHeld.is_one(v)]
    assert {d.job_id for d in deltas if d.text} >= set(sent)
    other = await make_workspace(engine, tokens=10_000)
    assert (await stream(client, other, "still served"))["done"] is not None
