"""A misbehaving provider through the whole pipeline: the bad answer costs one job at most, never the pipeline.

Each test scripts the fake provider to answer one model with poison (NUL in an answer or an error text,
token counts no provider could mean, an answer too large to deliver, refused connections), checks what
the caller and the book see for that job, then requires another workspace's request to complete.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import EventDeadLettered, decode
from tests.conftest import Stack, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import assert_books_balance, balances, entries_for
from workers.providers.base import RESPONSE_MAX_BYTES_DEFAULT
from workers.providers.wire import TOKEN_COUNT_MAX

HOSTILE = "test-hostile"
GRANT = 5_000
UNTOUCHED = {"available": GRANT, "held": 0, "spent": 0, "funding": -GRANT}

Scenario = Callable[..., Awaitable[None]]


@pytest.fixture(name="scenario")
async def scenario_fixture(stack: Stack) -> AsyncIterator[Scenario]:
    """Scripts the fake provider's answers for HOSTILE (httpx's standard-library encoder keeps 2**70 exact)."""
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:

        async def script(**knobs: Any) -> None:
            (await fake.post("/_fake/scenario", json={"model": HOSTILE, **knobs})).raise_for_status()

        yield script
        await fake.delete("/_fake/scenario", params={"model": HOSTILE})


async def complete(client: httpx.AsyncClient, headers: dict[str, str], model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "tell me something"}], "max_tokens": 32}
    return await client.post("/chat/completions", json=body, headers=headers)


async def assert_another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=GRANT)
    response = await complete(client, other.headers, "openai/gpt-4.1-mini")
    assert response.status_code == 200, response.text
    assert response.json()["cost"] > 0
    await assert_books_balance(engine)


async def test_nul_and_control_characters_in_an_answer_are_delivered_and_billed(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario(answer_text="first\x00second\x01\x1f\x7f\u2028end\x00")
    workspace = await make_workspace(engine, tokens=GRANT)

    response = await complete(client, workspace.headers, "test/hostile")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "first\ufffdsecond\x01\x1f\x7f\u2028end\ufffd"
    assert body["cost"] > 0 and body["balance_left"] == GRANT - body["cost"]
    polled = (await client.get(f"/jobs/{body['id']}", headers=workspace.headers)).json()
    assert polled["status"] == "completed" and polled["answer"] == body["answer"]
    await assert_another_workspace_completes(client, engine)


async def test_nul_in_a_providers_error_text_fails_the_job_with_a_clean_502(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario(fail_status=500, error_message="upstream\x00exploded\x07 " + "z" * 20_000)
    workspace = await make_workspace(engine, tokens=GRANT)

    response = await complete(client, workspace.headers, "test/hostile")

    assert response.status_code == 502, response.text
    error = response.json()
    assert error["code"] == "upstream_error" and error["status"] == 502
    assert "upstream\ufffdexploded" in error["error"] and "\x00" not in error["error"]
    assert len(error["error"]) < 2_000
    assert await balances(engine, workspace.id) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)


@pytest.mark.parametrize(
    ("knob", "count"),
    [
        ("usage_input_tokens", -1),
        ("usage_output_tokens", 2**63),
        ("usage_output_tokens", 2**64 - 1),
        ("usage_input_tokens", TOKEN_COUNT_MAX + 1),
        ("usage_output_tokens", 1.5),
        ("usage_input_tokens", True),
        ("usage_output_tokens", "12"),
    ],
    ids=repr,
)
async def test_an_absurd_token_count_fails_the_job_as_upstream_error_and_charges_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario, knob: str, count: object
) -> None:
    await scenario(**{knob: count})
    workspace = await make_workspace(engine, tokens=GRANT)

    response = await complete(client, workspace.headers, "test/hostile")

    assert response.status_code == 502, response.text
    assert response.json()["code"] == "upstream_error"
    assert await balances(engine, workspace.id) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)


async def test_an_answer_too_large_to_deliver_fails_the_job_and_charges_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, scenario: Scenario
) -> None:
    await scenario(answer_bytes=RESPONSE_MAX_BYTES_DEFAULT + 1)
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        before = (await fake.get("/_fake/calls")).json()["calls"].get(HOSTILE, {}).get("received", 0)

        response = await complete(client, workspace.headers, "test/hostile")

        after = (await fake.get("/_fake/calls")).json()["calls"][HOSTILE]["received"]
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "upstream_error" and "larger than" in response.json()["error"]
    assert after - before == 1, "a huge answer is not paid for twice"
    assert await balances(engine, workspace.id) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)


async def test_a_provider_refusing_connections_is_a_502_upstream_error_not_a_timeout(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)

    response = await complete(client, workspace.headers, "test/refused")

    assert response.status_code == 502, response.text
    error = response.json()
    assert (error["code"], error["status"]) == ("upstream_error", 502)
    assert "connection failed" in error["error"]
    assert await balances(engine, workspace.id) == UNTOUCHED
    await assert_another_workspace_completes(client, engine)


async def test_unreadable_dispatches_are_dead_lettered_and_a_named_job_fails_with_its_hold_released(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 3000})
        try:
            accepted = await client.post(
                "/chat/completions",
                json={"model": "test/slow", "messages": [{"role": "user", "content": "slow one"}]},
                headers={**workspace.headers, "Prefer": "respond-async"},
            )
            job_id = accepted.json()["id"]
            letters_topic = topics.prefixed(stack.topic_prefix, topics.DEAD_LETTERS)
            letters_before = len(await read_all(stack.kafka, letters_topic))
            # While its real call is in flight, two dispatches no worker can run arrive: bytes that are not an
            # event, and one that names the job but is not a valid dispatch.
            garbage = b"\x00\xff not an event"
            invalid = json.dumps({"type": "chat.job.dispatched", "job_id": job_id, "workspace_id": workspace.id})
            dispatch_topic = topics.prefixed(
                stack.topic_prefix, topics.dispatch_topic("openai", topics.Lane.INTERACTIVE)
            )
            await publish(stack.kafka, dispatch_topic, topics.job_key(job_id), garbage)
            await publish(stack.kafka, dispatch_topic, topics.job_key(job_id), invalid.encode())

            polled = await poll_until_finished(client, workspace.headers, job_id)
            assert polled["status"] == "failed" and polled["error"]["code"] == "internal_error", polled
            assert await balances(engine, workspace.id) == UNTOUCHED
            letters = [decode(EventDeadLettered, v) for v in await read_all(stack.kafka, letters_topic)]
            mine = [base64.b64decode(letter.value_b64) for letter in letters[letters_before:]]
            assert garbage in mine and invalid.encode() in mine
            await asyncio.sleep(3.5)  # the real answer arrives late: it changes nothing
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-slow"})
    assert await balances(engine, workspace.id) == UNTOUCHED
    assert await entries_for(engine, job_id) == ["hold", "release"]
    await assert_another_workspace_completes(client, engine)


async def poll_until_finished(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, timeout_s: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=headers)).json()
        if body["status"] != "queued" or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.2)
