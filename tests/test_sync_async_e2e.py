"""Sync waits, 202 and polling, Idempotency-Key retries and disconnects: never a lost job, never a double charge."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, Workspace, make_workspace
from tests.ledger_checks import assert_books_balance, balances

SLOW = {"model": "test/slow", "messages": [{"role": "user", "content": "take your time"}], "max_tokens": 20}


@pytest.fixture
async def slow_upstream(stack: Stack) -> AsyncIterator[None]:
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        (await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 1500})).raise_for_status()
        yield
        (await fake.delete("/_fake/scenario", params={"model": "test-slow"})).raise_for_status()


async def poll_until_finished(client: httpx.AsyncClient, location: str, ws: Workspace) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await client.get(location.removeprefix("/api/v1"), headers=ws.headers)).json()
        if body.get("status") not in (None, "queued"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{location} never finished")


@pytest.mark.usefixtures("slow_upstream")
async def test_prefer_wait_times_out_into_202_and_the_job_is_billed_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post("/chat/completions", json=SLOW, headers={**workspace.headers, "Prefer": "wait=0"})
    assert response.status_code == 202
    assert response.headers["preference-applied"] == "wait=0"
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["id"].startswith("job_")
    assert response.headers["location"] == f"/api/v1/jobs/{accepted['id']}"

    finished = await poll_until_finished(client, response.headers["location"], workspace)
    assert finished["status"] == "completed"
    assert {"answer", "usage", "balance_left", "cost", "model"} <= set(finished)
    assert finished["balance_left"] == 5_000 - finished["cost"]
    assert (await balances(engine, workspace.id))["spent"] == finished["cost"]


async def test_respond_async_answers_202_at_once(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post(
        "/chat/completions",
        json={**SLOW, "model": "openai/gpt-4.1-mini"},
        headers={**workspace.headers, "Prefer": "respond-async"},
    )
    assert response.status_code == 202
    assert response.headers["preference-applied"] == "respond-async"
    finished = await poll_until_finished(client, response.headers["location"], workspace)
    assert finished["status"] == "completed" and finished["cost"] > 0


@pytest.mark.usefixtures("slow_upstream")
async def test_a_caller_that_disconnects_is_billed_once_and_gets_the_result_on_retry(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    key = f"retry-{uuid.uuid4()}"
    headers = {**workspace.headers, "Idempotency-Key": key}
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/chat/completions", json=SLOW, headers=headers, timeout=0.3)

    # The retry joins the job the first attempt started, waits for it, and charges nothing more.
    retried = await client.post("/chat/completions", json=SLOW, headers=headers)
    again = await client.post("/chat/completions", json=SLOW, headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    assert again.json() == retried.json()
    assert (await balances(engine, workspace.id))["spent"] == retried.json()["cost"]
    await assert_books_balance(engine)


async def test_concurrent_retries_with_one_key_make_one_job(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    headers = {**workspace.headers, "Idempotency-Key": f'"{uuid.uuid4()}"'}
    body = {"messages": [{"role": "user", "content": "once only"}], "max_tokens": 30}
    responses = await asyncio.gather(*(client.post("/chat/completions", json=body, headers=headers) for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await balances(engine, workspace.id))["spent"] == responses[0].json()["cost"]


async def test_same_key_with_a_different_body_is_409(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=5_000)
    headers = {**workspace.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await client.post(
        "/chat/completions", json={"messages": [{"role": "user", "content": "a"}]}, headers=headers
    )
    second = await client.post(
        "/chat/completions", json={"messages": [{"role": "user", "content": "b"}]}, headers=headers
    )
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_conflict" and second.json()["status"] == 409


async def test_a_key_is_scoped_to_its_workspace(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    first, second = await make_workspace(engine, tokens=5_000), await make_workspace(engine, tokens=5_000)
    key = f"shared-{uuid.uuid4()}"
    body = {"messages": [{"role": "user", "content": "same"}]}
    a = await client.post("/chat/completions", json=body, headers={**first.headers, "Idempotency-Key": key})
    b = await client.post("/chat/completions", json=body, headers={**second.headers, "Idempotency-Key": key})
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"]


async def test_another_workspace_cannot_read_a_job(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner, stranger = await make_workspace(engine, tokens=5_000), await make_workspace(engine, tokens=0)
    job_id = (
        await client.post(
            "/chat/completions", json={"messages": [{"role": "user", "content": "mine"}]}, headers=owner.headers
        )
    ).json()["id"]
    response = await client.get(f"/jobs/{job_id}", headers=stranger.headers)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
