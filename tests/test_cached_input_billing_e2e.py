"""Cache reads billed at the published cached-input price, through the real stack (Kafka, PostgreSQL, the workers
and the fake provider's OpenAI, Anthropic and Gemini formats).

An admin publishes a price whose cached-input multiplier is far below the input one; answers that report cache reads
(`[fake cache_read_tokens=N]`) cost ceil((input - cached) * input + cached * cached_input + output * output), to
the token, and the balance moves by exactly the sum. A job admitted before the publish keeps the terms it was
admitted under (and terms recorded without a cached price bill cache reads at the input price); a batch's jobs are
billed by the same rule; usage redelivered to the ledger is charged once, at the terms recorded with the job.
"""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.main import main as luntrex
from schemas.events import UsageRecorded
from tests.batch_client import finished, jsonl, line, results, upload, wait_batch
from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.ledger_checks import balances, entries_for
from tests.test_ledger_exactly_once_e2e import wait_for_results
from tests.test_money_e2e import assert_book_exact, publish_usage

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Odd denominators, so a part rounded on its own (or a cache read priced at the input price) shows in the sum.
PRICE = {"input_multiplier": "7/5", "output_multiplier": "9/4", "cached_input_multiplier": "1/7"}
GRANT = 1_000_000
CACHED = "Say hi [fake output_tokens=4 cache_read_tokens=6]"
PLAIN = "Say hi [fake output_tokens=4 cache_read_tokens=0]"
MODELS = ["test/cached-openai", "test/cached-anthropic", "test/cached-gemini"]
EVERY_PROVIDER = pytest.mark.parametrize("model", MODELS, ids=["openai", "anthropic", "gemini"])


def cost_at(price: dict[str, str], input_tokens: int, output_tokens: int, cached: int) -> int:
    """The rule, in exact rationals: the cache reads at the cached price, the rest of the input at the input price."""
    exact = (
        (input_tokens - cached) * Fraction(price["input_multiplier"])
        + cached * Fraction(price.get("cached_input_multiplier", price["input_multiplier"]))
        + output_tokens * Fraction(price["output_multiplier"])
    )
    return math.ceil(exact)


async def publish_price(client: httpx.AsyncClient, model: str, price: dict[str, str]) -> int:
    published = await client.post("/admin/prices", json={"model_id": model, **price}, headers=ADMIN)
    assert published.status_code == 201, published.text
    version: dict[str, Any] = published.json()["price"]
    assert version["cached_input_multiplier"] == price.get("cached_input_multiplier", price["input_multiplier"])
    return int(version["version_id"])


async def ask(client: httpx.AsyncClient, workspace: Workspace, model: str, content: str) -> dict[str, Any]:
    answered = await client.post(
        "/chat/completions",
        json={"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": content}]},
        headers=workspace.headers,
    )
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


async def debit_detail(engine: AsyncEngine, job_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        detail: dict[str, Any] = (
            await conn.execute(
                text("SELECT detail FROM journal_transactions WHERE job_id = :job AND kind = 'debit'"), {"job": job_id}
            )
        ).scalar_one()
    return detail


async def job_terms(engine: AsyncEngine, job_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        terms: dict[str, Any] = (
            await conn.execute(text("SELECT terms FROM jobs WHERE id = :id"), {"id": job_id})
        ).scalar_one()
    return terms


async def assert_spent_exactly(engine: AsyncEngine, workspace: Workspace, costs: list[int]) -> None:
    assert await balances(engine, workspace.id) == {
        "available": GRANT - sum(costs),
        "held": 0,
        "spent": sum(costs),
        "funding": -GRANT,
    }


def verify_with_the_cli(database_url: str) -> None:
    """`luntrex ledger verify`, as an operator runs it: exit 0 on a sound book."""
    checked = CliRunner().invoke(luntrex, ["ledger", "verify", "--database-url", database_url])
    assert checked.exit_code == 0, checked.output


@EVERY_PROVIDER
async def test_cache_reads_cost_the_published_cached_price_and_the_balance_moves_by_the_sum(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, model: str
) -> None:
    version = await publish_price(client, model, PRICE)
    workspace = await make_workspace(engine, tokens=GRANT)

    plain = await ask(client, workspace, model, PLAIN)
    cached = await ask(client, workspace, model, CACHED)

    assert "cached_input_tokens" not in plain["usage"]
    assert cached["usage"]["cached_input_tokens"] == 6
    assert cached["usage"]["input_tokens"] == plain["usage"]["input_tokens"] > 6
    costs = []
    for answer, reads in ((plain, 0), (cached, 6)):
        usage = answer["usage"]
        expected = cost_at(PRICE, usage["input_tokens"], usage["output_tokens"], reads)
        assert answer["cost"] == expected
        costs.append(expected)
        # Recorded with the job at admission, and named on the debit with the cache reads it billed.
        assert (await job_terms(engine, answer["id"]))[model] | {"price_version_id": version} == {
            "input": "7/5",
            "output": "9/4",
            "cached_input": "1/7",
            "context_tokens": 100000,
            "max_output_tokens": 4096,
            "price_version_id": version,
        }
        detail = await debit_detail(engine, answer["id"])
        assert detail["price"] == {"input": "7/5", "output": "9/4", "cached_input": "1/7"}
        assert (detail["cached_input_tokens"], detail["priced_cost_tokens"]) == (reads, expected)
        polled = (await client.get(f"/jobs/{answer['id']}", headers=workspace.headers)).json()
        assert (polled["cost"], polled["usage"]) == (expected, usage)
    # The same prompt, the same answer: the cache reads are what made the difference, at 1/7 instead of 7/5.
    uncached_price = cost_at(PRICE, cached["usage"]["input_tokens"], cached["usage"]["output_tokens"], 0)
    assert cached["cost"] < uncached_price == plain["cost"]
    await assert_spent_exactly(engine, workspace, costs)
    assert cached["balance_left"] == GRANT - sum(costs)
    await assert_book_exact(engine)
    # The CLI runs its own event loop: in a thread, beside the test's.
    await asyncio.to_thread(verify_with_the_cli, stack.database_url)


async def wait_held(engine: AsyncEngine, job_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            status = (
                await conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id})
            ).scalar_one_or_none()
        if status == "queued":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} was never held")


async def submit_async(client: httpx.AsyncClient, workspace: Workspace, model: str, content: str) -> str:
    accepted = await client.post(
        "/chat/completions",
        json={"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": content}]},
        headers=workspace.headers | {"Prefer": "respond-async"},
    )
    assert accepted.status_code == 202, accepted.text
    job_id: str = accepted.json()["id"]
    return job_id


async def wait_completed(client: httpx.AsyncClient, workspace: Workspace, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
        if body.get("status") == "completed":
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never completed")


async def test_a_job_admitted_before_the_cached_price_is_billed_by_the_terms_it_was_admitted_under(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """test/cached-late costs 1x everything until this test publishes a cached price. Two jobs are held first (one
    of them with its terms rewritten as a ledger from before cached pricing recorded them: no `cached_input`), the
    price is published while they run, a third job is admitted after it: only the third bills the cheaper cache."""
    model = "test/cached-late"
    workspace = await make_workspace(engine, tokens=GRANT)
    slow = "Say hi [fake latency_ms=5000 output_tokens=4 cache_read_tokens=6]"
    before_id = await submit_async(client, workspace, model, slow)
    older_id = await submit_async(client, workspace, model, slow)
    await wait_held(engine, before_id)
    await wait_held(engine, older_id)
    terms_before = await job_terms(engine, before_id)
    assert terms_before[model]["cached_input"] == terms_before[model]["input"] == "1/1"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET terms = jsonb_set(terms, ARRAY[:model], (terms -> :model) - 'cached_input') "
                "WHERE id = :id"
            ),
            {"model": model, "id": older_id},
        )
    assert "cached_input" not in (await job_terms(engine, older_id))[model]

    price = {"input_multiplier": "1", "output_multiplier": "1", "cached_input_multiplier": "1/10"}
    version = await publish_price(client, model, price)
    after = await ask(client, workspace, model, "Say hi [fake output_tokens=4 cache_read_tokens=6]")
    before = await wait_completed(client, workspace, before_id)
    older = await wait_completed(client, workspace, older_id)

    for old in (before, older):
        assert old["usage"]["cached_input_tokens"] == 6
        # Settled after the cheaper cache took effect, billed at 1x throughout: the terms it was admitted under.
        assert old["cost"] == old["usage"]["input_tokens"] + old["usage"]["output_tokens"]
        assert (await debit_detail(engine, old["id"]))["price"] == {
            "input": "1/1",
            "output": "1/1",
            "cached_input": "1/1",
        }
    usage = after["usage"]
    assert usage["cached_input_tokens"] == 6
    assert after["cost"] == cost_at(price, usage["input_tokens"], usage["output_tokens"], 6)
    assert after["cost"] < usage["input_tokens"] + usage["output_tokens"]
    assert (await job_terms(engine, after["id"]))[model]["price_version_id"] == version
    assert terms_before[model].get("price_version_id") != version
    await assert_spent_exactly(engine, workspace, [before["cost"], older["cost"], after["cost"]])
    await assert_book_exact(engine)


async def test_a_batch_bills_each_lines_cache_reads_at_the_cached_price(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    for model in MODELS:
        await publish_price(client, model, PRICE)
    workspace = await make_workspace(engine, tokens=GRANT)
    lines = [
        line(f"{name}-{model}", content, model=model, max_tokens=16)
        for model in MODELS
        for name, content in (("plain", PLAIN), ("cached", CACHED))
    ]
    created = await upload(client, workspace, jsonl(lines))
    assert created.status_code == 201, created.text
    done = await wait_batch(client, workspace, created.json()["id"], finished, log=stack.ledger.log_tail)
    assert done["status"] == "completed" and done["counts"]["completed"] == len(lines)

    rows = {row["custom_id"]: row for row in await results(client, workspace, done["id"])}
    for model in MODELS:
        plain, cached = rows[f"plain-{model}"], rows[f"cached-{model}"]
        assert cached["usage"]["cached_input_tokens"] == 6 and "cached_input_tokens" not in plain["usage"]
        for row, reads in ((plain, 0), (cached, 6)):
            usage = row["usage"]
            assert row["cost_tokens"] == cost_at(PRICE, usage["input_tokens"], usage["output_tokens"], reads)
        assert cached["cost_tokens"] < plain["cost_tokens"]
    costs = [row["cost_tokens"] for row in rows.values()]
    assert done["cost_tokens"] == sum(costs)
    await assert_spent_exactly(engine, workspace, costs)
    await assert_book_exact(engine)


async def test_redelivered_usage_with_cache_reads_is_charged_once_at_the_recorded_terms(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    """A held job's usage (cache reads in it) is published three times, then the worker's own answer arrives as a
    fourth; a dearer cache is published in between. One debit, at the price recorded at admission, sums exact."""
    model = "test/cached-replay"
    admitted_price = {"input_multiplier": "3/2", "output_multiplier": "2", "cached_input_multiplier": "1/3"}
    version = await publish_price(client, model, admitted_price)
    workspace = await make_workspace(engine, tokens=GRANT)
    job_id = await submit_async(client, workspace, model, "Say hi [fake latency_ms=4000 output_tokens=4]")
    await wait_held(engine, job_id)
    await publish_price(client, model, {"input_multiplier": "5", "output_multiplier": "5"})

    usage = UsageRecorded(
        workspace_id=workspace.id,
        job_id=job_id,
        outcome="completed",
        model_id=model,
        provider="openai",
        input_tokens=11,
        output_tokens=4,
        cached_input_tokens=7,
        answer="hi",
        finish_reason="stop",
    )
    await publish_usage(stack, usage, times=3)

    expected = math.ceil(4 * Fraction(3, 2) + 7 * Fraction(1, 3) + 4 * 2)  # 6 + 7/3 + 8 -> 17
    assert expected == 17
    settled = await wait_for_results(stack, job_id, count=4, timeout_s=30)
    assert len(settled) == 4
    assert {(r.status, r.cost_tokens, r.balance_left) for r in settled} == {("completed", expected, GRANT - expected)}
    assert {r.price.cached_input if r.price else None for r in settled} == {"1/3"}
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    detail = await debit_detail(engine, job_id)
    assert (detail["cached_input_tokens"], detail["priced_cost_tokens"]) == (7, expected)
    assert (await job_terms(engine, job_id))[model]["price_version_id"] == version
    await assert_spent_exactly(engine, workspace, [expected])
    await assert_book_exact(engine)
