"""The official `openai` package's batch flow, unchanged, at `<base>/openai`: upload, create, retrieve, list, read
the output and error files, cancel."""

from __future__ import annotations

import asyncio
import io

import openai
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import batch_retention
from schemas.events import utc_now
from tests.batch_client import jsonl, line, rich_lines
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances


def sdk(stack: Stack, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.base_url}/openai", api_key=api_key, max_retries=0, timeout=60)


async def wait_done(client: openai.AsyncOpenAI, batch_id: str, timeout_s: float = 90) -> openai.types.Batch:
    for _ in range(int(timeout_s / 0.2)):
        batch = await client.batches.retrieve(batch_id)
        if batch.status in ("completed", "cancelled", "expired", "failed"):
            return batch
        await asyncio.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not finish")


async def test_the_openai_package_runs_a_batch_and_reads_its_output_and_error_files(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    lines = [line(f"req-{i}", f"Question {i}") for i in range(20)]
    lines.append(line("too-long", max_tokens=10**6))  # refused at upload: over the model's output limit
    lines.append(line("fails", "boom [fake fail_status=400 error_code=invalid_request_error]"))
    async with sdk(stack, workspace.api_key) as client:
        uploaded = await client.files.create(file=("input.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
        assert uploaded.id.startswith("file-") and uploaded.purpose == "batch" and uploaded.bytes > 0
        assert (await client.files.content(uploaded.id)).content == jsonl(lines)
        created = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"job": "nightly"},
        )
        assert created.object == "batch" and created.status == "in_progress"
        assert created.completion_window == "24h"  # as sent, OpenAI's form (never "1d")
        assert created.input_file_id == uploaded.id and created.metadata == {"job": "nightly"}
        assert created.errors is not None and [e.line for e in created.errors.data or []] == [21]
        done = await wait_done(client, created.id)
        assert done.status == "completed" and done.completion_window == "24h"
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (21, 20, 1)
        assert done.output_file_id and done.error_file_id and done.completed_at
        output = (await client.files.content(done.output_file_id)).text
        errors = (await client.files.content(done.error_file_id)).text
        # Each file's size is what a download brings, measured once and kept; a file reads the same a second later.
        for file_id, text in ((done.output_file_id, output), (done.error_file_id, errors)):
            for _ in range(2):
                described = await client.files.retrieve(file_id)
                assert (described.purpose, described.bytes) == ("batch_output", len(text.encode()))
        await asyncio.sleep(1.1)
        assert (await client.files.content(done.output_file_id)).text == output
        listed = await client.batches.list(limit=10)
    rows = [orjson.loads(row) for row in output.splitlines()]
    assert sorted(row["custom_id"] for row in rows) == sorted(f"req-{i}" for i in range(20))
    for row in rows:
        assert row["id"].startswith("batch_req_") and row["error"] is None
        response = row["response"]
        assert response["status_code"] == 200 and response["request_id"]
        assert response["body"]["object"] == "chat.completion"
        assert created.created_at <= response["body"]["created"] <= (done.completed_at or 0)
        assert response["body"]["choices"][0]["message"]["content"]
    failed = [orjson.loads(row) for row in errors.splitlines()]
    assert [row["custom_id"] for row in failed] == ["fails"]
    assert failed[0]["response"]["status_code"] == 400 and "error" in failed[0]["response"]["body"]
    assert [(batch.id, batch.completion_window) for batch in listed.data] == [(created.id, "24h")]
    spent = sum(row["response"]["body"]["usage"]["total_tokens"] for row in rows)
    assert (await balances(engine, workspace.id))["spent"] == spent
    # The batch's usage: every request's tokens, the failed one's too (it was charged nothing).
    failed_usage = failed[0]["response"]["body"].get("usage", {"total_tokens": 0})["total_tokens"]
    assert done.usage is not None and done.usage.total_tokens == spent + failed_usage
    assert done.usage.input_tokens + done.usage.output_tokens == done.usage.total_tokens


async def test_the_openai_package_cancels_a_batch_and_sees_other_workspaces_as_missing(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=10_000_000)
    stranger = await make_workspace(engine, tokens=0)
    slow = [line(f"c{i}", "wait [fake latency_ms=300]") for i in range(1500)]
    async with sdk(stack, workspace.api_key) as client:
        uploaded = await client.files.create(file=("slow.jsonl", io.BytesIO(jsonl(slow))), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        cancelling = await client.batches.cancel(created.id)
        assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
        done = await wait_done(client, created.id)
        assert done.status == "cancelled" and done.cancelled_at
        assert done.request_counts is not None and done.request_counts.failed > 0
        assert done.error_file_id
        unrun = [orjson.loads(row) for row in (await client.files.content(done.error_file_id)).text.splitlines()]
        assert {row["error"]["code"] for row in unrun} == {"batch_cancelled"}
    async with sdk(stack, stranger.api_key) as other:
        with pytest.raises(openai.NotFoundError):
            await other.batches.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            await other.files.content(uploaded.id)
        with pytest.raises(openai.BadRequestError):
            await other.files.create(file=("x.jsonl", io.BytesIO(b"{}\n")), purpose="fine-tune")


async def test_a_batch_line_with_tools_or_several_choices_keeps_them_in_the_output_file(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with sdk(stack, workspace.api_key) as client:
        uploaded = await client.files.create(file=("input.jsonl", io.BytesIO(jsonl(rich_lines()))), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await wait_done(client, created.id)
        assert done.status == "completed" and done.output_file_id
        output = (await client.files.content(done.output_file_id)).text
    bodies = {row["custom_id"]: row["response"]["body"] for row in map(orjson.loads, output.splitlines())}
    [called] = bodies["tools"]["choices"]
    assert called["finish_reason"] == "tool_calls"
    assert called["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert [choice["index"] for choice in bodies["several"]["choices"]] == [0, 1]
    assert all(choice["message"]["content"] for choice in bodies["several"]["choices"])


async def test_the_openai_package_pages_past_batches_the_retention_removed_as_it_went(
    stack: Stack, engine: AsyncEngine
) -> None:
    """Each next page of `batches.list` is `after=<the last batch seen>`: that batch may be gone by then (the ledger's
    result retention deleted it), and the listing goes on from where it stood."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    async with sdk(stack, workspace.api_key) as client:
        uploaded = await client.files.create(file=("input.jsonl", io.BytesIO(jsonl([line("only")]))), purpose="batch")
        ids = []
        for _ in range(3):
            created = await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            ids.append(created.id)
        for batch_id in ids:
            assert (await wait_done(client, batch_id)).status == "completed"
        seen = []
        async for batch in client.batches.list(limit=1):
            seen.append(batch.id)
            # Past its retention now: the ledger's own pruning deletes it (with its lines and feed).
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE batch_feeds SET finished_at = finished_at - interval '31 days' WHERE batch_id = :b"),
                    {"b": batch.id},
                )
            assert batch.id in await batch_retention.prune(engine, retention_days=30, now=utc_now(), batches_max=100)
            with pytest.raises(openai.NotFoundError):
                await client.batches.retrieve(batch.id)
        assert seen == ids[::-1]
        assert (await client.batches.list()).data == []
        with pytest.raises(openai.NotFoundError):
            await client.batches.list(after="batch_nope")
