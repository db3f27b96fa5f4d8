"""The official `openai` package's `files.list` and `files.delete` at `<base>/openai`: a workspace pages through its
uploads and deletes them, a batch made from a deleted file still runs and bills exactly, and a file deleted while
it is read is never handed out in part."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingress import batch_files, dated_ids
from ingress.batch_ingest import BatchOptions, IngestLimits, ingest
from ingress.batch_stream import numbered_lines
from ingress.key_policy import Principal
from schemas.catalogue import parse_catalogue
from schemas.events import utc_now
from tests.batch_client import jsonl, line
from tests.conftest import Stack, make_workspace
from tests.ledger_checks import balances
from tests.services import ROOT
from tests.test_openai_batches_e2e import sdk, wait_done


async def test_the_openai_package_pages_through_a_workspaces_files_newest_first(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    stranger = await make_workspace(engine, tokens=0)
    async with sdk(stack, workspace.api_key) as client:
        uploaded = [
            await client.files.create(file=(f"part-{n}.jsonl", io.BytesIO(jsonl([line(f"r{n}")]))), purpose="batch")
            for n in range(3)
        ]
        ids = [file.id for file in uploaded]
        newest_first = await client.files.list()
        assert [file.id for file in newest_first.data] == ids[::-1]
        assert [file.filename for file in newest_first.data] == ["part-2.jsonl", "part-1.jsonl", "part-0.jsonl"]
        assert newest_first.has_more is False
        first_page = await client.files.list(limit=2, order="asc")
        assert [file.id for file in first_page.data] == ids[:2] and first_page.has_more is True
        assert [file.id async for file in client.files.list(limit=2, order="asc")] == ids  # the SDK follows `after`
        assert [file.id async for file in client.files.list(limit=1)] == ids[::-1]
        assert [file.id for file in (await client.files.list(purpose="batch")).data] == ids[::-1]
        assert (await client.files.list(purpose="fine-tune")).data == []
        with pytest.raises(openai.NotFoundError):
            await client.files.list(after="file-unknown")
        with pytest.raises(openai.BadRequestError):
            await client.files.list(limit=10_001)
    async with sdk(stack, stranger.api_key) as other:
        assert (await other.files.list()).data == []
        # Another workspace's file id is only a position here: this workspace's files before it (none), nothing of
        # the other's.
        assert (await other.files.list(after=ids[2])).data == []


def test_the_openai_packages_clean_up_loop_deletes_every_file_while_it_pages(stack: Stack, engine: AsyncEngine) -> None:
    """`for f in client.files.list(): client.files.delete(f.id)`: each next page is `after=<a file just deleted>`."""
    workspace = asyncio.run(make_workspace(engine, tokens=0))
    with openai.OpenAI(base_url=f"{stack.base_url}/openai", api_key=workspace.api_key, max_retries=0) as client:

        def upload(count: int) -> list[str]:
            return [
                client.files.create(
                    file=(f"cleanup{n}.jsonl", jsonl([line(f"r{n}")]), "application/jsonl"), purpose="batch"
                ).id
                for n in range(count)
            ]

        ids = upload(5)
        deleted = []
        for file in client.files.list(limit=2):
            assert client.files.delete(file.id).deleted
            deleted.append(file.id)
        assert deleted == ids[::-1]
        assert client.files.list().data == []
        ids = upload(5)
        deleted = []
        for file in client.files.list(limit=2, order="asc"):
            client.files.delete(file.id)
            deleted.append(file.id)
        assert deleted == ids
        # A cursor naming a file gone by expiry and pruning (not by delete) pages on as well.
        ids = upload(3)
        asyncio.run(pruned(engine, ids[1]))
        assert [file.id for file in client.files.list(after=ids[1]).data] == [ids[0]]
        assert [file.id for file in client.files.list(after=ids[1], order="asc").data] == [ids[2]]
        # An id of no file this API could have made is still a 404, as on OpenAI.
        with pytest.raises(openai.NotFoundError):
            client.files.list(after="file-nope")


async def pruned(engine: AsyncEngine, file_id: str) -> None:
    """The file's row deleted, as the ingress's pruner deletes an expired file (ingress/outbox_pruning.py)."""
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM batch_files WHERE id = :f"), {"f": file_id})


async def test_a_file_id_carries_its_exact_creation_time(engine: AsyncEngine) -> None:
    """The listing's keyset is (created_at, id): a cursor's position is exact only if the id's time is the row's."""
    workspace = await make_workspace(engine, tokens=0)

    async def one_chunk() -> AsyncIterator[bytes]:
        yield b'{"a": 1}\n'

    stored = [
        await batch_files.store_file(
            engine, one_chunk(), workspace_id=workspace.id, purpose="batch", filename="t.jsonl", now=utc_now()
        )
        for _ in range(3)
    ]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT id, created_at FROM batch_files WHERE workspace_id = :ws"), {"ws": workspace.id}
            )
        ).all()
    assert {row.id: row.created_at for row in rows} == {
        file.id: dated_ids.created_at(batch_files.FILE_PREFIX, file.id) for file in stored
    }


async def test_a_deleted_file_is_gone_while_the_batch_made_from_it_completes_and_bills_exactly(
    stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=1_000_000)
    stranger = await make_workspace(engine, tokens=0)
    lines = [line(f"req-{i}", f"Question {i}") for i in range(12)]
    async with sdk(stack, workspace.api_key) as client:
        kept = await client.files.create(file=("kept.jsonl", io.BytesIO(jsonl(lines[:1]))), purpose="batch")
        uploaded = await client.files.create(file=("input.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
        created = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        async with sdk(stack, stranger.api_key) as other:
            with pytest.raises(openai.NotFoundError):
                await other.files.delete(uploaded.id)
        deleted = await client.files.delete(uploaded.id)
        assert (deleted.id, deleted.object, deleted.deleted) == (uploaded.id, "file", True)
        for gone in (client.files.retrieve, client.files.content, client.files.delete):
            with pytest.raises(openai.NotFoundError):
                await gone(uploaded.id)
        with pytest.raises(openai.NotFoundError):
            await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert [file.id for file in (await client.files.list()).data] == [kept.id]
        done = await wait_done(client, created.id)
        assert done.status == "completed" and done.input_file_id == uploaded.id
        assert done.request_counts is not None and done.request_counts.completed == len(lines)
        assert done.output_file_id
        output = (await client.files.content(done.output_file_id)).text
        described = await client.files.retrieve(done.output_file_id)
        assert (described.id, described.purpose) == (done.output_file_id, "batch_output")
        with pytest.raises(openai.BadRequestError, match="output"):
            await client.files.delete(done.output_file_id)
        assert (await client.files.content(done.output_file_id)).text == output
    async with engine.connect() as conn:
        chunks_left = (
            await conn.execute(text("SELECT count(*) FROM batch_file_chunks WHERE file_id = :f"), {"f": uploaded.id})
        ).scalar_one()
    assert chunks_left == 0  # the bytes are gone, not only hidden
    usages = [openai.types.CompletionUsage.model_validate(row["response"]["body"]["usage"]) for row in _rows(output)]
    assert len(usages) == len(lines)
    assert (await balances(engine, workspace.id))["spent"] == sum(usage.total_tokens for usage in usages)


async def test_a_file_deleted_while_it_is_read_raises_instead_of_ending_early(engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=0)

    async def three_chunks() -> AsyncIterator[bytes]:
        for piece in (b'{"a": 1}\n', b'{"b": 2}\n', b'{"c": 3}\n'):
            yield piece

    stored = await batch_files.store_file(
        engine, three_chunks(), workspace_id=workspace.id, purpose="batch", filename="x.jsonl", now=utc_now()
    )
    whole = [chunk async for chunk in batch_files.file_chunks(engine, stored)]
    assert b"".join(whole) == b'{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    reading = batch_files.file_chunks(engine, stored)
    assert await anext(reading) == b'{"a": 1}\n'
    assert await batch_files.delete_file(engine, workspace.id, stored.id)
    with pytest.raises(batch_files.FileDeleted, match="deleted while it was being read"):
        await anext(reading)


async def test_a_batch_made_from_a_file_deleted_midway_stores_nothing(engine: AsyncEngine) -> None:
    """The path `batches.create` takes: the file's chunks through the line parser into one COPY transaction."""
    workspace = await make_workspace(engine, tokens=1_000_000)
    lines = [orjson.dumps(line(f"r{n}", f"Question {n}")) + b"\n" for n in range(3)]

    async def one_line_per_chunk() -> AsyncIterator[bytes]:
        for piece in lines:
            yield piece

    stored = await batch_files.store_file(
        engine, one_line_per_chunk(), workspace_id=workspace.id, purpose="batch", filename="x.jsonl", now=utc_now()
    )

    async def deleted_after_the_first_chunk() -> AsyncIterator[bytes]:
        async for chunk in batch_files.file_chunks(engine, stored):
            yield chunk
            await batch_files.delete_file(engine, workspace.id, stored.id)

    principal = Principal(key_id=workspace.key_id, workspace_id=workspace.id, default_model=None)
    with pytest.raises(batch_files.FileDeleted):
        await ingest(
            engine,
            numbered_lines(deleted_after_the_first_chunk(), line_max_bytes=1 << 20),
            principal=principal,
            catalogue=parse_catalogue((ROOT / "config" / "models.toml").read_text()),
            options=BatchOptions(endpoint="/v1/chat/completions", completion_window_s=86_400, input_file_id=stored.id),
            limits=IngestLimits(lines_max=10, errors_max=10, messages_max=16, event_max_bytes=1 << 20),
            now=utc_now(),
        )
    async with engine.connect() as conn:
        batches = (
            await conn.execute(text("SELECT count(*) FROM batches WHERE workspace_id = :ws"), {"ws": workspace.id})
        ).scalar_one()
    assert batches == 0  # not a batch of the one line read before the file went


def _rows(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(row) for row in output.splitlines()]


async def test_purpose_batch_output_lists_the_files_of_ended_batches_and_pages_through_them(
    stack: Stack, engine: AsyncEngine
) -> None:
    # It was always empty, though files.retrieve describes these files with that purpose.
    workspace = await make_workspace(engine, tokens=1_000_000)
    stranger = await make_workspace(engine, tokens=1_000_000)
    fails = line("fails", "boom [fake fail_status=400 error_code=invalid_request_error]")
    async with sdk(stack, workspace.api_key) as client:
        ended = []
        for n, lines in enumerate([[line("ok")], [line("ok"), fails], [fails]]):
            uploaded = await client.files.create(file=(f"in{n}.jsonl", io.BytesIO(jsonl(lines))), purpose="batch")
            created = await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            ended.append(await wait_done(client, created.id))
        by_batch = [[i for i in (batch.output_file_id, batch.error_file_id) if i] for batch in ended]
        assert [len(files) for files in by_batch] == [1, 2, 1]
        newest_first = [file_id for files in by_batch[::-1] for file_id in files]
        oldest_first = [file_id for files in by_batch for file_id in files]

        listed = await client.files.list(purpose="batch_output")
        assert [file.id for file in listed.data] == newest_first and listed.has_more is False
        for file in listed.data:
            assert file == await client.files.retrieve(file.id)  # described as files.retrieve describes it
            assert file.bytes == len((await client.files.content(file.id)).content)
        # The SDK follows `after` one file at a time, in and across batches, both ways.
        assert [file.id async for file in client.files.list(purpose="batch_output", limit=1)] == newest_first
        pages = client.files.list(purpose="batch_output", limit=1, order="asc")
        assert [file.id async for file in pages] == oldest_first
        assert (await client.files.list(purpose="batch_output", after=newest_first[1])).data[0].id == newest_first[2]
        assert all(file.purpose == "batch" for file in (await client.files.list()).data)

        for missing in ("file-out-batch_nope", "file-err-batch_nope"):
            with pytest.raises(openai.NotFoundError, match=f"file '{missing}' not found"):
                await client.files.retrieve(missing)
            with pytest.raises(openai.NotFoundError, match=f"file '{missing}' not found"):
                await client.files.delete(missing)
            with pytest.raises(openai.NotFoundError, match=f"file '{missing}' not found"):
                await client.files.list(purpose="batch_output", after=missing)
        with pytest.raises(openai.BadRequestError, match="cannot be deleted on its own"):
            await client.files.delete(newest_first[0])
    async with sdk(stack, stranger.api_key) as other:
        assert (await other.files.list(purpose="batch_output")).data == []
        with pytest.raises(openai.NotFoundError):
            await other.files.retrieve(newest_first[0])


@pytest.mark.parametrize(
    ("after", "status"),
    [
        ("file-out-", 404),
        ("file-out-batch_\x00", 400),
        ("file-err-batch_\x1b[2J", 400),
        ("file-out-batch_" + "f" * 10_000, 400),
        # A batch id of this API's form is a position, whether or not its batch exists (ingress/dated_ids.py).
        ("file-out-batch_" + "f" * 46, 200),
        ("file-nope", 404),
    ],
    ids=repr,
)
async def test_a_hostile_batch_output_cursor_is_a_clean_4xx(
    stack: Stack, engine: AsyncEngine, after: str, status: int
) -> None:
    workspace = await make_workspace(engine, tokens=0)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as raw:
        response = await raw.get(
            "/openai/files", params={"purpose": "batch_output", "after": after}, headers=workspace.headers
        )
        assert response.status_code == status, response.text
        assert len(response.text) < 1_000
        if status != 200:
            assert response.json()["error"]["type"] == "invalid_request_error"
        other = await make_workspace(engine, tokens=10_000)
        answered = await raw.post(
            "/chat/completions",
            json={"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
            headers=other.headers,
        )
        assert answered.status_code == 200, answered.text
