"""Streaming end to end: the official `openai` package (sync and async) and the native SSE, billed once.

Policy under test (README, Streaming): a failure after the first delta ends the job `failed` with nothing
charged; a caller who disconnects does not stop the job, which is billed in full once; a redelivered usage
event bills nothing twice; a hostile stream costs its own job only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import orjson
import pytest
import sqlalchemy
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import UsageRecorded, encode
from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import balances, entries_for

MODELS = ["openai/gpt-4.1-mini", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-flash", "meta/llama-3.1-8b-instruct"]


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def job_view(
    client: httpx.AsyncClient, workspace: Workspace, job_id: str, *, until: str | None = None
) -> dict[str, Any]:
    """The polled job; with `until`, polled until its status is that (at most 30 s)."""
    for _ in range(300):
        body: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        if until is None or body.get("status") == until:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {until}: {body}")


async def native_events(
    client: httpx.AsyncClient, workspace: Workspace, body: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    events = []
    async with client.stream(
        "POST", "/chat/completions", headers=workspace.headers, json={**body, "stream": True}
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                assert name is not None
                events.append((name, orjson.loads(line[6:])))
    return events


def test_the_sync_openai_sdk_streams_with_usage(stack: Stack, engine: AsyncEngine) -> None:
    workspace = asyncio.run(make_workspace(engine, tokens=10_000))
    client = openai.OpenAI(base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30)
    with client:
        stream = client.chat.completions.create(
            model="openai/gpt-4.1-mini",
            messages=user("Write about the ocean [fake stream_chunk_ms=2]"),
            max_completion_tokens=20,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Echo: Write about the ocean")
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0] in ("stop", "length")
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert 0 < last.usage.completion_tokens <= 20
    extra = last.model_extra or {}
    assert extra["cost"] == last.usage.total_tokens
    assert extra["balance_left"] == 10_000 - last.usage.total_tokens
    assert asyncio.run(balances(engine, workspace.id))["spent"] == last.usage.total_tokens


@pytest.mark.parametrize("model", MODELS)
async def test_the_async_openai_sdk_streams_every_provider(stack: Stack, engine: AsyncEngine, model: str) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30
    ) as client:
        stream = await client.chat.completions.create(
            model=model,
            messages=user("Say hi to the sea"),
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Echo: Say hi to the sea")
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens > 0
    assert (await balances(engine, workspace.id))["spent"] == (chunks[-1].model_extra or {})["cost"]


async def test_without_include_usage_there_is_no_usage_chunk(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    async with openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-mini", messages=user("hello"), max_tokens=8, stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert all(c.usage is None and c.choices for c in chunks)
        broke = await make_workspace(engine, tokens=0)
        poor = openai.AsyncOpenAI(base_url=f"{stack.base_url}/openai", api_key=broke.api_key, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError, match="Insufficient credits"):
            await poor.chat.completions.create(model="gpt-4.1-mini", messages=user("x"), stream=True)
        await poor.close()
        with pytest.raises(openai.BadRequestError, match="stream_options"):
            await client.chat.completions.create(
                model="gpt-4.1-mini", messages=user("x"), stream_options={"include_usage": True}
            )


async def test_the_native_stream_ends_with_the_bill(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    events = await native_events(
        client, workspace, {"model": "anthropic/claude-sonnet-4", "messages": user("Hello river"), "max_tokens": 12}
    )
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("delta") > 3
    done = events[-1][1]
    text = "".join(data["delta"] for name, data in events if name == "delta")
    polled = await job_view(client, workspace, done["id"])
    assert polled["answer"] == text
    assert done["usage"] == polled["usage"] and done["cost"] == polled["cost"]
    assert done["cost"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    assert done["balance_left"] == 5_000 - done["cost"]
    assert isinstance(done["first_token_ms"], int)
    async with engine.connect() as conn:
        stored = (
            await conn.execute(sqlalchemy.text("SELECT first_token_ms FROM jobs WHERE id = :id"), {"id": done["id"]})
        ).scalar()
    assert stored == done["first_token_ms"]  # the job's result record keeps its time to first token
    assert (await balances(engine, workspace.id))["spent"] == done["cost"]


async def test_a_stream_broken_midway_is_failed_and_charges_nothing(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    async with openai.AsyncOpenAI(
        base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0, timeout=30
    ) as client:
        stream = await client.chat.completions.create(
            model="openai/gpt-4.1-mini",
            messages=user("one two three four five [fake stream_fail_after=3]"),
            max_tokens=30,
            stream=True,
        )
        received: list[str] = []

        async def read_all() -> None:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")

        with pytest.raises(openai.APIError, match="mid-stream") as failed:
            await read_all()
    assert "".join(received) == "Echo: one two "
    assert failed.value.body["code"] == "upstream_error"  # type: ignore[index]
    after = await balances(engine, workspace.id)
    assert after["spent"] == 0 and after["held"] == 0 and after["available"] == 5_000


async def test_a_disconnect_midway_bills_the_job_once_in_full(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    body = {
        "model": "gemini/gemini-2.5-flash",
        "messages": user("a b c d e f [fake stream_chunk_ms=60]"),
        "max_tokens": 30,
        "stream": True,
    }
    async with client.stream("POST", "/chat/completions", headers=workspace.headers, json=body) as response:
        job_id = response.headers["x-luntrex-job-id"]
        async for line in response.aiter_lines():
            if line.startswith("event: delta"):
                break  # the caller goes away after the first delta
    polled = await job_view(client, workspace, job_id, until="completed")
    # The provider call ran to its end: the whole answer, not the first delta, is what was billed.
    assert polled["answer"].startswith("Echo: a b c d e f") and polled["finish_reason"]
    after = await balances(engine, workspace.id)
    assert after["spent"] == polled["cost"] and after["held"] == 0
    assert after["available"] == 5_000 - polled["cost"]
    assert (await entries_for(engine, job_id)).count("debit") == 1


async def test_a_redelivered_usage_event_bills_nothing_twice(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    events = await native_events(
        client, workspace, {"model": "openai/gpt-4.1-mini", "messages": user("replay me"), "max_tokens": 10}
    )
    done = events[-1][1]
    polled = await job_view(client, workspace, done["id"])
    usage = UsageRecorded(
        workspace_id=workspace.id,
        job_id=done["id"],
        outcome="completed",
        model_id="openai/gpt-4.1-mini",
        provider="openai",
        input_tokens=done["usage"]["input_tokens"],
        output_tokens=done["usage"]["output_tokens"],
        answer=polled["answer"],
        finish_reason="length",
        first_token_ms=1,
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        for _ in range(3):
            await producer.send_and_wait(
                topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE),
                encode(usage),
                key=topics.ledger_key(workspace.id),
            )
    finally:
        await producer.stop()
    # A later job of the same workspace settles behind the replays on the same partition.
    await native_events(client, workspace, {"model": "openai/gpt-4.1-mini", "messages": user("after"), "max_tokens": 5})
    after = await balances(engine, workspace.id)
    assert (await job_view(client, workspace, done["id"]))["cost"] == done["cost"]
    assert (await entries_for(engine, done["id"])).count("debit") == 1
    assert after["held"] == 0


@pytest.mark.parametrize(
    "scenario",
    [
        {"answer_text": "a\x00b \x01c d"},
        {"usage_output_tokens": 2**63},
        {"stream_hang_after": 1},
    ],
)
async def test_a_hostile_stream_costs_one_job_and_others_complete(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient, scenario: dict[str, Any]
) -> None:
    victim = await make_workspace(engine, tokens=5_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        (await fake.post("/_fake/scenario", json={"model": "test-hostile", **scenario})).raise_for_status()
        try:
            body = {
                "model": "test/hostile",
                "messages": user("x y z"),
                "max_tokens": 10,
                "routing": {"provider_timeout_s": 2},
            }
            response = await client.post("/chat/completions", headers=victim.headers, json={**body, "stream": True})
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-hostile"})
    if "answer_text" in scenario:
        assert response.status_code == 200
        assert "a\ufffdb" in response.text and "\\u0001c" in response.text and "\\u0000" not in response.text
        assert "event: done" in response.text
    else:
        # Before any text: an ordinary error response; after some: the stream ends with an error event.
        assert response.status_code == 502 or "event: error" in response.text, response.text
        assert "event: done" not in response.text
    after = await balances(engine, victim.id)
    assert after["held"] == 0
    other = await make_workspace(engine, tokens=1_000)
    events = await native_events(
        client, other, {"model": "openai/gpt-4.1-mini", "messages": user("still fine"), "max_tokens": 5}
    )
    assert events[-1][0] == "done"
