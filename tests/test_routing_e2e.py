"""Retries, fallbacks and provider errors through the whole pipeline, and what each one costs."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace
from tests.ledger_checks import assert_books_balance, balances

Scenario = Callable[..., Awaitable[None]]


@pytest.fixture
async def scenario(stack: Stack) -> AsyncIterator[Scenario]:
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        scripted: list[str] = []

        async def script(model: str, **knobs: Any) -> None:
            (await fake.post("/_fake/scenario", json={"model": model, **knobs})).raise_for_status()
            scripted.append(model)

        yield script
        for model in scripted:
            await fake.delete("/_fake/scenario", params={"model": model})


async def calls_to(stack: Stack, upstream: str) -> int:
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        recorded = (await fake.get("/_fake/requests")).json()["requests"]
    return sum(1 for r in recorded if upstream in r["path"] or (r.get("json") or {}).get("model") == upstream)


async def test_a_retriable_error_is_retried_and_billed_once(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, scenario: Scenario
) -> None:
    await scenario("test-flaky", fail_status=529, fail_times=2)
    workspace = await make_workspace(engine, tokens=5_000)
    before = await calls_to(stack, "test-flaky")
    response = await client.post(
        "/chat/completions",
        json={"model": "test/flaky", "messages": [{"role": "user", "content": "hello"}]},
        headers=workspace.headers,
    )
    assert response.status_code == 200, response.text
    assert await calls_to(stack, "test-flaky") - before == 3
    assert (await balances(engine, workspace.id))["spent"] == response.json()["cost"]


async def test_fallback_answers_and_is_billed_at_its_own_price(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario("test-priced", fail_status=503)
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post(
        "/chat/completions",
        json={
            "model": "test/priced",
            "messages": [{"role": "user", "content": "which model answers"}],
            "max_tokens": 100,
        },
        headers=workspace.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "test/cheap" and body["provider"] == "gemini"
    used = body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    assert body["cost"] == math.ceil(used / 2)
    assert body["usage"]["output_tokens"] <= 32  # clamped to the fallback's own output limit
    assert body["balance_left"] == 5_000 - body["cost"]
    await assert_books_balance(engine)


async def test_a_request_level_fallback_list_overrides_the_catalogue(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario("test-broken", fail_status=500)
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post(
        "/chat/completions",
        json={
            "model": "test/broken",
            "messages": [{"role": "user", "content": "x"}],
            "routing": {"fallbacks": ["anthropic/claude-sonnet-4"]},
        },
        headers=workspace.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "anthropic/claude-sonnet-4"


async def test_an_empty_fallback_list_pins_the_request_to_its_model(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, scenario: Scenario
) -> None:
    # test/priced falls back to test/cheap in the catalogue; `"fallbacks": []` says: this model or nothing.
    await scenario("test-priced", fail_status=503)
    workspace = await make_workspace(engine, tokens=5_000)
    cheap_before = await calls_to(stack, "test-cheap")
    response = await client.post(
        "/chat/completions",
        json={
            "model": "test/priced",
            "messages": [{"role": "user", "content": "only this model"}],
            "max_tokens": 100,
            "routing": {"fallbacks": []},
        },
        headers=workspace.headers,
    )
    assert response.status_code == 502, response.text
    assert await calls_to(stack, "test-cheap") == cheap_before
    assert await balances(engine, workspace.id) == {"available": 5_000, "held": 0, "spent": 0, "funding": -5_000}
    await assert_books_balance(engine)


async def test_a_provider_that_keeps_failing_is_a_502_and_costs_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario("test-broken", fail_status=503)
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post(
        "/chat/completions",
        json={"model": "test/broken", "messages": [{"role": "user", "content": "x"}]},
        headers=workspace.headers,
    )
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_error" and response.json()["request_id"]
    assert await balances(engine, workspace.id) == {"available": 5_000, "held": 0, "spent": 0, "funding": -5_000}
    await assert_books_balance(engine)


async def test_a_non_retriable_provider_error_is_not_retried_and_reaches_the_caller(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, scenario: Scenario
) -> None:
    await scenario("test-broken", fail_status=400)
    workspace = await make_workspace(engine, tokens=5_000)
    before = await calls_to(stack, "test-broken")
    response = await client.post(
        "/chat/completions",
        json={"model": "test/broken", "messages": [{"role": "user", "content": "x"}]},
        headers=workspace.headers,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert await calls_to(stack, "test-broken") - before == 1
    assert (await balances(engine, workspace.id))["spent"] == 0


@pytest.mark.parametrize("status", [404, 401, 403])
async def test_the_gateways_standing_with_a_provider_is_a_502_not_retried_and_a_fallback_answers(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, scenario: Scenario, status: int
) -> None:
    # The catalogue lists these models: the provider's 404 says the deployment is misconfigured, never that the
    # caller asked for a model that does not exist (that 404 model_not_found is the catalogue's alone); a 401 or
    # 403 refuses the gateway's own key for that provider. Neither says anything of the caller's request: the same
    # call would fail alike (not retried), the route's next model answers, billed at its own price.
    await scenario("test-broken", fail_status=status)
    await scenario("test-priced", fail_status=status)
    workspace = await make_workspace(engine, tokens=5_000)
    before = await calls_to(stack, "test-broken")

    alone = await client.post(
        "/chat/completions",
        json={"model": "test/broken", "messages": [{"role": "user", "content": "x"}]},
        headers=workspace.headers,
    )
    assert alone.status_code == 502, alone.text
    assert alone.json()["code"] == "upstream_error"
    if status == 404:
        assert "does not serve this model" in alone.json()["error"]
    assert await calls_to(stack, "test-broken") - before == 1, "the same call would fail alike: not retried"
    assert (await balances(engine, workspace.id))["spent"] == 0

    fell_back = await client.post(
        "/chat/completions",
        json={"model": "test/priced", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10},
        headers=workspace.headers,
    )
    assert fell_back.status_code == 200, fell_back.text
    assert fell_back.json()["model"] == "test/cheap"
    assert (await balances(engine, workspace.id))["spent"] == fell_back.json()["cost"]
    await assert_books_balance(engine)


async def test_rate_limits_that_outlast_retries_say_when_to_come_back(
    client: httpx.AsyncClient, engine: AsyncEngine, scenario: Scenario
) -> None:
    await scenario("test-broken", fail_status=429, retry_after_s=1)
    workspace = await make_workspace(engine, tokens=5_000)
    response = await client.post(
        "/chat/completions",
        json={"model": "test/broken", "messages": [{"role": "user", "content": "x"}]},
        headers=workspace.headers,
    )
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited" and body["retry_after"] >= 1
    assert response.headers["retry-after"] == str(body["retry_after"])
