"""A stream whose first token is slower than the caller's read timeout: streamed once, billed once.

Policy under test (README, Streaming, "Before the first byte"): the stream starts (200, `text/event-stream`) as
soon as the job's credit is held, and sends SSE keep-alive comments at least a second inside the read timeout the
official SDKs announce (`X-Stainless-Read-Timeout`), so openai-python never times out waiting for a slow first
token and never retries (each retry would be a new job, billed in full). A refusal before the hold keeps its HTTP
status. When not even the hold comes within the wait (here: the ledger paused), the OpenAI surface answers one
`408 wait_limit_reached` with `x-should-retry: false`, and the one job runs on, billed once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import balances

MODEL = "openai/gpt-4.1-mini"
# The SDK's read timeout in these tests, and the fake provider's pause before the first token: twice as long.
READ_TIMEOUT_S = 3
FIRST_TOKEN_MS = 6000


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def job_rows(engine: AsyncEngine, workspace_id: str) -> list[Any]:
    async with engine.connect() as conn:
        query = sqlalchemy.text("SELECT id, status, cost_tokens FROM jobs WHERE workspace_id = :ws ORDER BY created_at")
        return list((await conn.execute(query, {"ws": workspace_id})).all())


def counting_client(stack: Stack, workspace: Workspace, sent: list[str]) -> openai.OpenAI:
    """The official sync client as the review ran it (timeout 3 s, the SDK's default 2 retries), counting the
    requests it sends."""
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(str(request.url))]})
    return openai.OpenAI(
        base_url=f"{stack.base_url}/openai",
        api_key=workspace.api_key,
        timeout=READ_TIMEOUT_S,
        max_retries=2,
        http_client=http,
    )


def test_a_first_token_slower_than_the_sdks_read_timeout_is_streamed_and_billed_once(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = asyncio.run(make_workspace(engine, tokens=10_000))
    sent: list[str] = []
    started = time.monotonic()
    with counting_client(stack, workspace, sent) as client:
        stream = client.chat.completions.create(
            model=MODEL,
            messages=user(f"slow start [fake latency_ms={FIRST_TOKEN_MS}]"),
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    took_s = time.monotonic() - started
    assert len(sent) == 1, sent  # no retry: the SDK never timed out
    assert took_s >= FIRST_TOKEN_MS / 1000
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.startswith("Echo: slow start")
    assert chunks[0].choices[0].delta.role == "assistant"
    cost = (chunks[-1].model_extra or {})["cost"]
    rows = asyncio.run(job_rows(engine, workspace.id))
    assert [(row.status, row.cost_tokens) for row in rows] == [("completed", cost)]
    assert asyncio.run(balances(engine, workspace.id))["spent"] == cost


async def test_a_held_stream_starts_at_once_and_keeps_alive_inside_the_announced_read_timeout(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"model": MODEL, "messages": user(f"keep me [fake latency_ms={FIRST_TOKEN_MS}]"), "max_tokens": 5}
    headers = {**workspace.headers, "x-stainless-read-timeout": str(READ_TIMEOUT_S)}
    arrivals: list[tuple[float, str]] = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=READ_TIMEOUT_S) as client:
        started = time.monotonic()
        async with client.stream(
            "POST", "/openai/chat/completions", headers=headers, json={**body, "stream": True}
        ) as response:
            head_s = time.monotonic() - started
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line:
                    arrivals.append((time.monotonic() - started, line))
    assert head_s < FIRST_TOKEN_MS / 1000 / 2  # the head went out on the hold, not with the first token
    lines = [line for _, line in arrivals]
    first_data = next(n for n, line in enumerate(lines) if line.startswith("data: "))
    assert first_data >= 2 and set(lines[:first_data]) == {": keep-alive"}, lines
    assert lines[-1] == "data: [DONE]"
    times = [head_s] + [at for at, _ in arrivals]
    assert max(b - a for a, b in itertools.pairwise(times)) < READ_TIMEOUT_S - 0.5
    assert len(await job_rows(engine, workspace.id)) == 1


async def test_the_native_stream_starts_on_the_hold_and_a_refusal_keeps_its_status(
    stack: Stack, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"model": MODEL, "messages": user("native slow [fake latency_ms=2500]"), "max_tokens": 5, "stream": True}
    started = time.monotonic()
    async with client.stream("POST", "/chat/completions", headers=workspace.headers, json=body) as response:
        head_s = time.monotonic() - started
        assert response.status_code == 200
        events = [line[7:] async for line in response.aiter_lines() if line.startswith("event: ")]
    assert head_s < 1.25, head_s
    assert events[0] == "start" and events[-1] == "done" and "delta" in events
    broke = await make_workspace(engine, tokens=0)
    refused = await client.post("/chat/completions", headers=broke.headers, json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_credits"


@contextmanager
def ledger_paused(stack: Stack) -> Iterator[None]:
    """The ledger process stopped (SIGSTOP): nothing is admitted, so no hold comes, until it goes on (SIGCONT)."""
    assert stack.ledger.process is not None
    pid = stack.ledger.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_stream_not_held_within_the_read_timeout_is_one_408_and_one_job(stack: Stack, engine: AsyncEngine) -> None:
    workspace = asyncio.run(make_workspace(engine, tokens=10_000))
    sent: list[str] = []
    with counting_client(stack, workspace, sent) as client, ledger_paused(stack):
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model=MODEL, messages=user("not held yet"), max_tokens=5, stream=True)
        took_s = time.monotonic() - started
    assert len(sent) == 1, sent  # x-should-retry: false, and the SDK obeys it
    assert took_s < READ_TIMEOUT_S
    answer = refused.value.response
    assert answer.status_code == 408 and answer.headers["x-should-retry"] == "false"
    error = answer.json()["error"]
    assert error["code"] == "wait_limit_reached"
    job_id = error["job_id"]
    assert answer.headers["location"] == f"/api/v1/jobs/{job_id}"
    polled: dict[str, Any] = {}
    with httpx.Client(base_url=stack.base_url, headers=workspace.headers) as http:
        for _ in range(300):
            polled = http.get(f"/jobs/{job_id}").json()
            if polled.get("status") == "completed":
                break
            time.sleep(0.1)
    assert polled["status"] == "completed", polled
    rows = asyncio.run(job_rows(engine, workspace.id))
    assert [(row.id, row.cost_tokens) for row in rows] == [(job_id, polled["cost"])]
    assert asyncio.run(balances(engine, workspace.id))["spent"] == polled["cost"]
