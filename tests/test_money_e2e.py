"""Money through the real pipeline: overruns, broken usage, unknown models and a reprice, with replays and kills.

A misbehaving provider is played by publishing the usage a worker would have published for it (the fake
provider itself never bills past `max_tokens`); every such event is published more than once, the real
worker's answer arrives later as one more replay, and the sums must stay exact to the token.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import verify
from schemas import topics
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, UsageRecorded, decode, encode
from tests.conftest import Stack, Workspace, make_workspace
from tests.kafka_probe import publish, read_all
from tests.ledger_checks import assert_books_balance, balances, entries_for
from tests.test_ledger_exactly_once_e2e import PROMPT, submit_async, wait_for_results

SLOW = {**PROMPT, "model": "test/slow"}


@pytest.fixture
async def slow_provider(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The fake answers test/slow after 4 s: long enough to act on a job while it is held."""
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        await fake.post("/_fake/scenario", json={"model": "test-slow", "latency_ms": 4000})
        try:
            yield fake
        finally:
            await fake.delete("/_fake/scenario", params={"model": "test-slow"})


async def held_job(client: httpx.AsyncClient, engine: AsyncEngine, workspace: Workspace) -> tuple[str, int]:
    [job_id] = await submit_async(client, workspace, 1, SLOW)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            hold = (
                await conn.execute(
                    text("SELECT hold_tokens FROM jobs WHERE id = :id AND status = 'queued'"), {"id": job_id}
                )
            ).scalar()
        if hold:
            return job_id, int(hold)
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} was never held")


async def publish_usage(stack: Stack, usage: UsageRecorded, times: int) -> None:
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE)
    for _ in range(times):
        await publish(stack.kafka, topic, topics.ledger_key(usage.workspace_id), encode(usage))


async def job_row(engine: AsyncEngine, job_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        return dict((await conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id})).one()._mapping)


async def another_workspace_completes(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    other = await make_workspace(engine, tokens=10_000)
    started = time.monotonic()
    response = await client.post("/chat/completions", json=PROMPT, headers=other.headers)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 15


async def assert_book_exact(engine: AsyncEngine) -> None:
    await assert_books_balance(engine)
    assert await verify.verify_database(engine) == []


async def test_an_overrun_is_billed_in_full_once_however_often_its_usage_arrives(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack, slow_provider: httpx.AsyncClient
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    job_id, hold = await held_job(client, engine, workspace)
    overrun = UsageRecorded(
        workspace_id=workspace.id,
        job_id=job_id,
        outcome="completed",
        model_id="test/slow",
        provider="openai",
        input_tokens=700,
        output_tokens=300,
        answer="far too long",
        finish_reason="stop",
    )
    await publish_usage(stack, overrun, times=3)

    # Three forged usages, then the worker's real one: four results, all the same settlement.
    results = await wait_for_results(stack, job_id, count=4, timeout_s=30)
    assert len(results) == 4
    assert {(r.status, r.cost_tokens, r.balance_left) for r in results} == {("completed", 1_000, 9_000)}
    assert hold < 1_000
    row = await job_row(engine, job_id)
    assert (row["cost_tokens"], row["overrun_tokens"], row["uncharged_tokens"]) == (1_000, 1_000 - hold, 0)
    assert await balances(engine, workspace.id) == {"available": 9_000, "held": 0, "spent": 1_000, "funding": -10_000}
    assert await entries_for(engine, job_id) == ["hold", "debit"]
    await another_workspace_completes(client, engine)
    await assert_book_exact(engine)


@pytest.mark.parametrize(("tokens_in", "tokens_out"), [(-40, 10), (10, 2**63), (10**13, 5)])
async def test_a_broken_usage_fails_one_job_releases_its_hold_and_billing_goes_on(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    stack: Stack,
    slow_provider: httpx.AsyncClient,
    tokens_in: int,
    tokens_out: int,
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    job_id, _ = await held_job(client, engine, workspace)
    broken = UsageRecorded(
        workspace_id=workspace.id,
        job_id=job_id,
        outcome="completed",
        model_id="test/slow",
        provider="openai",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
    )
    await publish_usage(stack, broken, times=2)

    [failed, *_] = await wait_for_results(stack, job_id, count=1, timeout_s=20)
    assert failed.status == "failed" and failed.cost_tokens == 0
    assert failed.error is not None and failed.error.code == "upstream_error"
    polled = (await client.get(f"/jobs/{job_id}", headers=workspace.headers)).json()
    assert polled["status"] == "failed" and polled["error"]["code"] == "upstream_error"
    await another_workspace_completes(client, engine)
    assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
    assert await entries_for(engine, job_id) == ["hold", "release"]
    await assert_book_exact(engine)


async def test_a_job_naming_a_model_the_ledger_does_not_know_is_rejected_without_a_hold(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    job = ChatJobSubmitted(
        workspace_id=workspace.id,
        job_id=f"job_{uuid.uuid4().hex}",
        api_key_id=workspace.key_id,
        model_id="gone/model",
        route=("gone/model",),
        input_tokens_estimate=10,
        params=ChatParameters(messages=(PromptMessage(role="user", content="hi"),), max_tokens=10),
    )
    topic = topics.prefixed(stack.topic_prefix, topics.JOBS_SUBMITTED)
    for _ in range(2):
        await publish(stack.kafka, topic, topics.ledger_key(workspace.id), encode(job))

    results = await wait_for_results(stack, job.job_id, count=2)
    assert len(results) == 2
    for result in results:
        assert result.status == "rejected" and result.error is not None
        assert result.error.code == "model_not_found"
    assert await entries_for(engine, job.job_id) == []
    assert await balances(engine, workspace.id) == {"available": 10_000, "held": 0, "spent": 0, "funding": -10_000}
    await another_workspace_completes(client, engine)
    await assert_book_exact(engine)


def repriced_catalogue(original: Path, tmp_path: Path) -> Path:
    """The session's catalogue with test/slow five times dearer."""
    text_ = original.read_text()
    block_start = text_.index('id = "test/slow"')
    block_end = text_.index("[[models]]", block_start)
    block = text_[block_start:block_end].replace('multiplier = "1"', 'multiplier = "5"')
    assert block.count('multiplier = "5"') == 2
    path = tmp_path / "repriced.toml"
    path.write_text(text_[:block_start] + block + text_[block_end:])
    return path


async def test_a_reprice_while_a_job_is_held_applies_to_new_jobs_only(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    stack: Stack,
    slow_provider: httpx.AsyncClient,
    catalogue_path: Path,
    tmp_path: Path,
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    held_id, _ = await held_job(client, engine, workspace)
    # The ledger is killed while the job is at the provider and comes back with a new price for its model.
    stack.ledger.kill()
    stack.ledger.env["LUNTREX_CATALOGUE_PATH"] = str(repriced_catalogue(catalogue_path, tmp_path))
    try:
        stack.ledger.start()
        old = (await wait_for_results(stack, held_id, count=1, timeout_s=60))[0]
        await slow_provider.delete("/_fake/scenario", params={"model": "test-slow"})
        new = (await client.post("/chat/completions", json=SLOW, headers=workspace.headers)).json()
    finally:
        stack.ledger.kill()
        stack.ledger.env["LUNTREX_CATALOGUE_PATH"] = str(catalogue_path)
        stack.ledger.start()

    assert old.status == "completed" and old.cost_tokens == old.input_tokens + old.output_tokens
    assert new["cost"] == 5 * (new["usage"]["input_tokens"] + new["usage"]["output_tokens"])
    async with engine.connect() as conn:
        prices = dict(
            (
                await conn.execute(
                    text(
                        "SELECT job_id, detail->'price'->>'input' FROM journal_transactions WHERE kind = 'debit' "
                        "AND job_id IN (:old, :new)"
                    ),
                    {"old": held_id, "new": new["id"]},
                )
            ).all()
        )
    assert prices == {held_id: "1/1", new["id"]: "5/1"}
    assert await entries_for(engine, held_id) == ["hold", "debit"]
    await assert_book_exact(engine)


async def test_estimated_usage_is_flagged_for_finance(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    async with httpx.AsyncClient(base_url=stack.fake_url) as fake:
        upstream = "meta-llama/Llama-3.1-8B-Instruct"
        await fake.post("/_fake/scenario", json={"model": upstream, "omit_usage": True})
        try:
            body = {**PROMPT, "model": "meta/llama-3.1-8b-instruct"}
            answer = (await client.post("/chat/completions", json=body, headers=workspace.headers)).json()
        finally:
            await fake.delete("/_fake/scenario", params={"model": upstream})

    # The worker's usage is redelivered twice: still one debit, still flagged.
    usage_topic = topics.prefixed(stack.topic_prefix, topics.JOBS_USAGE)
    [usage] = [
        v
        for v in await read_all(stack.kafka, usage_topic, key=topics.ledger_key(workspace.id))
        if decode(UsageRecorded, v).job_id == answer["id"]
    ]
    assert decode(UsageRecorded, usage).usage_estimated is True
    for _ in range(2):
        await publish(stack.kafka, usage_topic, topics.ledger_key(workspace.id), usage)
    results = await wait_for_results(stack, answer["id"], count=3)
    assert len(results) == 3 and all(r.usage_estimated for r in results)
    assert {r.cost_tokens for r in results} == {answer["cost"]}
    assert await entries_for(engine, answer["id"]) == ["hold", "debit"]
    assert (await job_row(engine, answer["id"]))["usage_estimated"] is True
    async with engine.connect() as conn:
        detail = (
            await conn.execute(
                text("SELECT detail FROM journal_transactions WHERE job_id = :id AND kind = 'debit'"),
                {"id": answer["id"]},
            )
        ).scalar_one()
    assert detail["usage_estimated"] is True
    await assert_book_exact(engine)


SHIPPED_MODELS = (
    "openai/gpt-4.1-mini",
    "openai/gpt-5",
    "gemini/gemini-2.5-flash",
    "anthropic/claude-sonnet-4",
    "meta/llama-3.1-8b-instruct",
)
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Tell me a joke"},
]


@pytest.mark.parametrize("model", SHIPPED_MODELS)
async def test_the_hold_covers_what_each_models_provider_bills_for_the_prompt(
    client: httpx.AsyncClient, engine: AsyncEngine, model: str
) -> None:
    # Without Llama 3.1's template overhead in the catalogue, its hold (bytes + 4 per message + 3) would be
    # below what the provider bills for this conversation, and the difference would show as an overrun.
    workspace = await make_workspace(engine, tokens=100_000)
    body = {"model": model, "messages": CONVERSATION, "max_tokens": 32}
    answer = (await client.post("/chat/completions", json=body, headers=workspace.headers)).json()

    row = await job_row(engine, answer["id"])
    assert row["status"] == "completed" and row["overrun_tokens"] == 0
    # Every shipped price is 1: the hold is the prompt ceiling plus max_tokens, in tokens.
    assert row["input_tokens"] <= row["hold_tokens"] - 32
    assert row["cost_tokens"] <= row["hold_tokens"]
