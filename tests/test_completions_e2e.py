"""The API page's request, end to end through ingress, Kafka, the ledger, a worker and the fake provider."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Stack, make_workspace

SEED_REQUEST = {
    "model": "openai/gpt-4.1-mini",
    "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}],
    "max_tokens": 512,
}


async def test_seed_request_answers_with_the_page_shape_and_exact_balance(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=50_000)

    first = await client.post("/chat/completions", json=SEED_REQUEST, headers=workspace.headers)
    second = await client.post("/chat/completions", json=SEED_REQUEST, headers=workspace.headers)

    assert first.status_code == 200, first.text
    body = first.json()
    assert isinstance(body["answer"], str) and body["answer"]
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}
    used_first = body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    assert used_first > 0
    assert body["balance_left"] == 50_000 - used_first
    assert body["cost"] == used_first
    assert body["model"] == "openai/gpt-4.1-mini" and body["provider"] == "openai"
    assert second.status_code == 200, second.text
    used_second = second.json()["usage"]["input_tokens"] + second.json()["usage"]["output_tokens"]
    assert body["balance_left"] - second.json()["balance_left"] == used_second


async def test_every_page_model_is_served(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=100_000)
    for model in (
        "openai/gpt-4.1-mini",
        "openai/gpt-5",
        "gemini/gemini-2.5-flash",
        "anthropic/claude-sonnet-4",
        "meta/llama-3.1-8b-instruct",
    ):
        response = await client.post(
            "/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "One-line joke"}],
            },
            headers=workspace.headers,
        )
        assert response.status_code == 200, (model, response.text)
        assert response.json()["model"] == model


async def test_model_is_optional_and_defaults_to_gpt_4_1_mini(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    response = await client.post(
        "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=workspace.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "openai/gpt-4.1-mini"


async def test_workspace_without_credit_gets_403_insufficient_credits(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    response = await client.post("/chat/completions", json=SEED_REQUEST, headers=workspace.headers)
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "Insufficient credits"
    assert body["status"] == 403
    assert body["code"] == "insufficient_credits"
    assert body["request_id"]


async def test_a_balance_too_small_for_the_hold_is_refused_and_not_charged(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # 100 tokens cannot cover the worst case of max_tokens=512, so nothing may be dispatched or spent.
    workspace = await make_workspace(engine, tokens=100)
    response = await client.post("/chat/completions", json=SEED_REQUEST, headers=workspace.headers)
    assert response.status_code == 403
    async with engine.connect() as conn:
        spent = (
            await conn.execute(
                text("SELECT balance FROM ledger_accounts WHERE id = :id"), {"id": f"ws:{workspace.id}:spent"}
            )
        ).scalar_one()
    assert spent == 0


async def test_models_lists_the_catalogue_with_prices(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    response = await client.get("/models", headers=workspace.headers)
    assert response.status_code == 200
    ids = {model["id"] for model in response.json()["data"]}
    assert {"openai/gpt-4.1-mini", "openai/gpt-5", "gemini/gemini-2.5-flash"} <= ids


async def test_balance_summary_reconciles_with_completions(
    client: httpx.AsyncClient, engine: AsyncEngine, stack: Stack
) -> None:
    workspace = await make_workspace(engine, tokens=20_000)
    answer = (await client.post("/chat/completions", json=SEED_REQUEST, headers=workspace.headers)).json()
    summary = (await client.get("/balance", headers=workspace.headers)).json()
    assert summary["balance_tokens"] == answer["balance_left"]
    assert summary["spent_tokens"] == answer["cost"]
    assert summary["held_tokens"] == 0


async def test_tags_are_stored_with_the_job_and_its_ledger_entries_and_queryable(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=50_000)
    tagged = {**SEED_REQUEST, "max_tokens": 32, "tags": ["eval-run-7", "poems"]}
    first = (await client.post("/chat/completions", json=tagged, headers=workspace.headers)).json()
    second = (
        await client.post("/chat/completions", json={**tagged, "tags": ["poems"]}, headers=workspace.headers)
    ).json()
    await client.post("/chat/completions", json={**SEED_REQUEST, "max_tokens": 32}, headers=workspace.headers)

    eval_run = (await client.get("/usage", params={"tag": "eval-run-7"}, headers=workspace.headers)).json()
    poems = (await client.get("/usage", params={"tag": "poems"}, headers=workspace.headers)).json()
    everything = (await client.get("/usage", headers=workspace.headers)).json()
    assert eval_run["totals"]["jobs"] == 1 and eval_run["totals"]["cost_tokens"] == first["cost"]
    assert poems["totals"]["cost_tokens"] == first["cost"] + second["cost"]
    assert everything["totals"]["jobs"] == 3
    assert (
        everything["totals"]["cost_tokens"]
        == 50_000 - (await client.get("/balance", headers=workspace.headers)).json()["balance_tokens"]
    )
    async with engine.connect() as conn:
        entry_tags = (
            await conn.execute(
                text("SELECT kind, detail->'tags' FROM journal_transactions WHERE job_id = :job ORDER BY id"),
                {"job": first["id"]},
            )
        ).all()
    assert [(kind, tags) for kind, tags in entry_tags] == [
        ("hold", ["eval-run-7", "poems"]),
        ("debit", ["eval-run-7", "poems"]),
    ]


async def test_a_workspace_default_model_is_used_when_the_request_names_none(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000, default_model="gemini/gemini-2.5-flash")
    response = await client.post(
        "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=workspace.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "gemini/gemini-2.5-flash" and response.json()["provider"] == "gemini"
