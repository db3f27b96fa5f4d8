"""A finished batch announces itself: one signed `batch.completed` with its final counts and cost, as the ledger
settled them, once (the event id `batch:<id>` dedupes a replayed finish)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from tests.batch_client import finished, jsonl, line, upload, wait_batch
from tests.conftest import make_workspace
from tests.webhook_receiver import ScriptedReceiver


async def test_a_finished_batch_sends_one_signed_batch_completed_with_its_final_figures(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=50_000)
    async with ScriptedReceiver() as receiver:
        created = await client.post(
            "/webhooks",
            json={"url": receiver.url, "event_types": ["batch.completed"]},
            headers=workspace.headers,
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        accepted = await upload(client, workspace, jsonl([line(f"req-{i}") for i in range(3)]))
        assert accepted.status_code == 201, accepted.text
        batch = await wait_batch(client, workspace, accepted.json()["id"], finished)

        for _ in range(300):
            if receiver.received:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a duplicate, were there one, would arrive by now
        assert len(receiver.received) == 1
        payload = Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)

    assert payload["type"] == "batch.completed"
    data = payload["data"]
    assert data["id"] == batch["id"] and data["status"] == "completed"
    assert data["counts"] == {"completed": 3, "failed": 0, "cancelled": 0, "expired": 0}
    assert data["cost_tokens"] == batch["cost_tokens"] > 0
