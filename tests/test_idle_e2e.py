"""After the whole stack has been idle longer than every wait its idle loops sleep (the pools' poll and broker
fetch, the ledger's Faust fetch, the outbox relay's flush), a request is still answered and billed exactly."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_workspace
from workers.settings import WorkerSettings

REQUEST = {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Hello after a quiet spell."}]}


async def test_requests_after_an_idle_spell_are_answered_and_billed_exactly(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=50_000)
    first = await client.post("/chat/completions", json=REQUEST, headers=workspace.headers)
    assert first.status_code == 200, first.text

    await asyncio.sleep(WorkerSettings.model_fields["poll_wait_ms"].default / 1000 + 1.5)
    answers = [await client.post("/chat/completions", json=REQUEST, headers=workspace.headers) for _ in range(2)]

    balance = first.json()["balance_left"]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        used = body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
        assert body["balance_left"] == balance - used
        balance = body["balance_left"]
