"""OpenAI's expiry policies through the official `openai` package at `<base>/openai`: `files.create(expires_after=)`
and `batches.create(output_expires_after=)` are kept and honoured (an expired file is gone to every read and then
deleted; an expired output goes with its batch, the money untouched), and a bad policy is a 400, never ignored."""

from __future__ import annotations

import asyncio
import io

import httpx
import openai
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import outbox_pruning
from ledger import batch_retention
from schemas.events import utc_now
from tests.batch_client import jsonl, line
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances
from tests.test_openai_batches_e2e import sdk, wait_done

HOUR = 3600


async def _age_file(engine: AsyncEngine, file_id: str) -> None:
    """As if its hour had passed."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE batch_files SET expires_at = now() - interval '1 second' WHERE id = :f"), {"f": file_id}
        )


async def test_an_upload_asked_to_expire_says_when_and_is_gone_after_it(stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)
    async with sdk(stack, workspace.api_key) as client:
        expiring = await client.files.create(
            file=("input.jsonl", io.BytesIO(jsonl([line("a")]))),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": HOUR},
        )
        kept = await client.files.create(file=("kept.jsonl", io.BytesIO(jsonl([line("b")]))), purpose="batch")
        assert expiring.expires_at == expiring.created_at + HOUR and kept.expires_at is None
        assert (await client.files.retrieve(expiring.id)).expires_at == expiring.expires_at
        listed = {file.id: file.expires_at for file in (await client.files.list()).data}
        assert listed == {expiring.id: expiring.created_at + HOUR, kept.id: None}

        await _age_file(engine, expiring.id)
        for read in (client.files.retrieve, client.files.content):
            with pytest.raises(openai.NotFoundError):
                await read(expiring.id)
        with pytest.raises(openai.NotFoundError):
            await client.batches.create(
                input_file_id=expiring.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert [file.id for file in (await client.files.list()).data] == [kept.id]
    # The pruner deletes it, chunks and all; the other file stays. (The stack's own ingress prunes too, now and then:
    # a round it holds the lock for is tried again, and whichever round deletes the file, it is gone.)
    for _ in range(100):
        if await outbox_pruning.prune_once(engine, age_s=10**6, batch_max=100) is not None:
            break
        await asyncio.sleep(0.05)
    async with engine.connect() as conn:
        left = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM batch_files WHERE id = :f), "
                    "(SELECT count(*) FROM batch_file_chunks WHERE file_id = :f), "
                    "(SELECT count(*) FROM batch_files WHERE id = :k)"
                ),
                {"f": expiring.id, "k": kept.id},
            )
        ).one()
    assert tuple(left) == (0, 0, 1)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"}, "expires_after[anchor]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "60"}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "2592001"}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600.5"}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "-3600"}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "9" * 5000}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at", "expires_after[seconds]": "36\x0000"}, "expires_after[seconds]"),
        ({"expires_after[anchor]": "created_at"}, "expires_after[seconds]"),
        ({"expires_after[seconds]": "3600"}, "expires_after[anchor]"),
    ],
)
async def test_a_bad_expiry_policy_on_an_upload_is_a_400_that_names_it_and_stores_nothing(
    stack: Stack, engine: AsyncEngine, fields: dict[str, str], named: str
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    bearer = {"Authorization": f"Bearer {workspace.api_key}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=bearer) as client:
        answer = await client.post(
            "/openai/files",
            data={"purpose": "batch", **fields},
            files={"file": ("input.jsonl", jsonl([line("a")]), "application/jsonl")},
        )
        assert answer.status_code == 400, answer.text
        assert named in answer.json()["error"]["message"]
        assert (await client.get("/openai/files")).json()["data"] == []


async def test_a_batch_output_asked_to_expire_says_when_and_goes_with_its_batch_money_untouched(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with sdk(stack, workspace.api_key) as client:
        uploaded = await client.files.create(
            file=("input.jsonl", io.BytesIO(jsonl([line(f"q{n}") for n in range(3)]))), purpose="batch"
        )
        with pytest.raises(openai.BadRequestError, match="output_expires_after"):
            await client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                output_expires_after={"anchor": "created_at", "seconds": 60},
            )
        created = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            output_expires_after={"anchor": "created_at", "seconds": HOUR},
        )
        done = await wait_done(client, created.id)
        assert done.status == "completed" and done.output_file_id and done.completed_at
        described = await client.files.retrieve(done.output_file_id)
        assert described.expires_at == done.completed_at + HOUR
        output = (await client.files.content(done.output_file_id)).text
        assert len(output.splitlines()) == 3
        spent = (await balances(engine, workspace.id))["spent"]

        # Not yet due: the retention keeps it. An hour after the batch ended, its output is gone.
        assert created.id not in await batch_retention.prune(engine, retention_days=30, now=utc_now(), batches_max=100)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE batch_feeds SET finished_at = finished_at - interval '61 minutes' WHERE batch_id = :b"),
                {"b": created.id},
            )
        for read in (client.files.retrieve, client.files.content):
            with pytest.raises(openai.NotFoundError, match="expired"):
                await read(done.output_file_id)
        # The stack's ledger prunes too (hourly): whichever round deletes the batch, it is gone.
        await batch_retention.prune(engine, retention_days=30, now=utc_now(), batches_max=100)
        with pytest.raises(openai.NotFoundError):
            await client.batches.retrieve(created.id)
    async with engine.connect() as conn:
        answers = (
            await conn.execute(
                text("SELECT count(answer), count(*), sum(cost_tokens) FROM jobs WHERE id LIKE :p"),
                {"p": f"bj\\_{created.id.removeprefix('batch_')}\\_%"},
            )
        ).one()
    # The answers are gone; the jobs, their cost and the balance are not.
    assert (answers[0], answers[1], answers[2]) == (0, 3, spent)
    assert (await balances(engine, workspace.id))["spent"] == spent


async def test_a_native_batch_asked_to_drop_its_results_says_when_and_a_bad_ask_is_a_400(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with httpx.AsyncClient(base_url=stack.base_url, headers=workspace.headers) as client:
        for bad in ("30m", "31d", "2w", "7d\n", "0h", "9" * 16, "1\x00h"):
            refused = await client.post(
                "/batches",
                params={"results_expire_after": bad},
                json={"requests": [line("q")]},
            )
            assert refused.status_code == 400 and "results_expire_after" in refused.json()["error"], bad
            refused = await client.post("/batches", json={"requests": [line("q")], "results_expire_after": bad})
            assert refused.status_code == 400 and "results_expire_after" in refused.json()["error"], bad
        assert (await client.get("/batches")).json()["data"] == []
        created = await client.post("/batches", json={"requests": [line("q")], "results_expire_after": "2h"})
        assert created.status_code == 201 and created.json()["results_expire_at"] is None  # not ended yet
        batch_id = created.json()["id"]
        for _ in range(300):
            shown = (await client.get(f"/batches/{batch_id}")).json()
            if shown["status"] == "completed":
                break
            await asyncio.sleep(0.2)
        assert shown["status"] == "completed"
        assert shown["results_expire_at"] == shown["finished_at"] + 2 * HOUR
        kept = (await client.post("/batches", json={"requests": [line("k")]})).json()
        assert kept["results_expire_at"] is None
