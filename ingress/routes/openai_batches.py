"""OpenAI's Files and Batches API at `/api/v1/openai`, so the official `openai` package's batch flow works unchanged:
`files.create(purpose="batch")`, `files.retrieve/list/delete`, `batches.create/retrieve/list/cancel`,
`files.content(output_file_id)`.

An uploaded file is stored as it streams (multipart parts spool to disk, then go to PostgreSQL a chunk at a time);
`batches.create` reads it back through the same line parser and COPY as the native `POST /api/v1/batches`. The
output and error files of a batch are not stored twice: `file-out-<batch>` and `file-err-<batch>` render its
finished lines from the book of record when read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ingress import (
    batch_files,
    batch_output_files,
    batch_rendering,
    batch_writes,
    dated_ids,
    openai_uploads,
    query_strings,
)
from ingress.auth import Authenticated
from ingress.batch_ingest import BATCH_PREFIX, BatchOptions, completion_window_s
from ingress.batch_stream import numbered_lines
from ingress.key_policy import Principal
from ingress.routes.batches import store
from ingress.services import Services
from ledger import batch_queries
from schemas.api import ErrorBody
from schemas.batches import (
    METADATA_PAIRS_MAX,
    BatchMetadata,
    OpenAIBatch,
    OpenAIBatchList,
    OpenAIExpiresAfter,
    OpenAIFile,
    OpenAIFileDeleted,
    OpenAIFileList,
)
from schemas.errors import InvalidRequest, NotFound
from schemas.events import utc_now
from schemas.text import PRINTABLE, Label, Label64, Label128

router = APIRouter(prefix="/api/v1/openai")

_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (400, 401, 403, 404)}
FileId = Annotated[str, Path(max_length=128), PRINTABLE]
BatchId = Annotated[str, Path(max_length=64), PRINTABLE]


class CreateBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_file_id: Label = Field(max_length=128)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Label = Field(default="24h", max_length=16)
    metadata: BatchMetadata | None = Field(default=None, max_length=METADATA_PAIRS_MAX)
    output_expires_after: OpenAIExpiresAfter | None = None


@router.post(
    "/files",
    response_model=OpenAIFile,
    responses={s: e for s, e in _ERRORS.items() if s != 404},
    openapi_extra={"requestBody": openai_uploads.UPLOAD_BODY},
)
async def create_file(request: Request, principal: Authenticated) -> OpenAIFile:
    services: Services = request.app.state.services
    async with openai_uploads.upload(request) as upload:
        now = utc_now()
        stored = await batch_files.store_file(
            services.engine,
            upload.chunks,
            workspace_id=principal.workspace_id,
            purpose="batch",
            filename=upload.filename,
            now=now,
            expires_at=now + timedelta(seconds=upload.expires_after_s) if upload.expires_after_s is not None else None,
        )
    return _stored_file(stored)


def _file(
    file_id: str,
    size: int,
    created_at: datetime,
    filename: str,
    purpose: str = "batch",
    expires_at: datetime | None = None,
) -> OpenAIFile:
    return OpenAIFile(
        id=file_id,
        bytes=size,
        created_at=int(created_at.timestamp()),
        filename=filename,
        purpose=purpose,
        expires_at=int(expires_at.timestamp()) if expires_at is not None else None,
    )


def _stored_file(stored: batch_files.StoredFile) -> OpenAIFile:
    return _file(stored.id, stored.bytes, stored.created_at, stored.filename, expires_at=stored.expires_at)


async def _uploaded(services: Services, principal: Principal, file_id: str) -> batch_files.StoredFile:
    stored = await batch_files.stored_file(services.engine, principal.workspace_id, file_id)
    if stored is None:
        raise NotFound(f"file '{file_id}' not found")
    return stored


@router.get("/files", response_model=OpenAIFileList, responses=_ERRORS, dependencies=[query_strings.SINGLE_VALUED])
async def list_files(
    request: Request,
    principal: Authenticated,
    after: Annotated[Label128 | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    purpose: Annotated[Label64 | None, Query()] = None,
) -> OpenAIFileList:
    """The workspace's uploaded files, newest first unless `order=asc`; `after` is the last file id of the page
    before. The cursor is a position: it stays valid once its file is deleted or expired (clean-up loops delete
    files as they page); an `after` that is no file id of this API's form and names no file of the workspace is a
    404. Output and error files of ended batches are listed with `purpose=batch_output` (only then: see README)."""
    services: Services = request.app.state.services
    if purpose == "batch_output":
        return await _list_output_files(services, principal, after=after, limit=limit, order=order)
    anchor = None
    if after is not None:
        anchor = await batch_files.position(services.engine, principal.workspace_id, after)
        if anchor is None:
            raise NotFound(f"file '{after}' not found")
    stored = await batch_files.list_files(
        services.engine, principal.workspace_id, purpose=purpose, order=order, after=anchor, limit=limit + 1
    )
    data = [_stored_file(file) for file in stored[:limit]]
    return OpenAIFileList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(stored) > limit,
    )


async def _list_output_files(
    services: Services, principal: Principal, *, after: str | None, limit: int, order: Literal["asc", "desc"]
) -> OpenAIFileList:
    cursor = None
    if after is not None:
        file = batch_output_files.output_file(after)
        created_at = None
        if file is not None:
            created_at = dated_ids.created_at(BATCH_PREFIX, file.batch_id) or await batch_queries.created_at(
                services.engine, principal.workspace_id, file.batch_id
            )
        if file is None or created_at is None:
            raise NotFound(f"file '{after}' not found")
        cursor = (file, created_at)
    listed = await batch_output_files.listed(
        services.engine,
        principal.workspace_id,
        after=cursor,
        ascending=order == "asc",
        limit=limit + 1,
        catalogue=services.catalogue,
        now=utc_now(),
    )
    data = [await _output_file(services, view, file) for file, view in listed[:limit]]
    return OpenAIFileList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(listed) > limit,
    )


async def _output_file(
    services: Services, view: batch_queries.BatchView, output: batch_output_files.OutputFile
) -> OpenAIFile:
    """A batch's output or error file as OpenAI describes one (its purpose `batch_output`)."""
    size = await batch_output_files.size(
        services.engine, view, output, chunk_lines=services.settings.batch_results_chunk_lines
    )
    return _file(
        output.file_id,
        size,
        view.row.created_at,
        f"{output.file_id}.jsonl",
        purpose="batch_output",
        expires_at=view.results_expire_at,
    )


@router.delete("/files/{file_id}", response_model=OpenAIFileDeleted, responses=_ERRORS)
async def delete_file(file_id: FileId, request: Request, principal: Authenticated) -> OpenAIFileDeleted:
    """Delete an uploaded file and its bytes. Batches made from it keep running (they hold their own copy of its
    lines). A batch's output and error files are not stored: they go with the batch, after its retention."""
    services: Services = request.app.state.services
    output = batch_output_files.output_file(file_id)
    if output is not None:
        await _output_view(services, principal, output)  # a file of no batch is not found, like any other
        raise InvalidRequest(
            f"file '{file_id}' is a batch's output, rendered from its results when read, not a stored file: it "
            "cannot be deleted on its own, and is removed with the batch after the results' retention period"
        )
    if not await batch_files.delete_file(services.engine, principal.workspace_id, file_id):
        raise NotFound(f"file '{file_id}' not found")
    return OpenAIFileDeleted(id=file_id, deleted=True)


@router.get("/files/{file_id}", response_model=OpenAIFile, responses=_ERRORS)
async def retrieve_file(file_id: FileId, request: Request, principal: Authenticated) -> OpenAIFile:
    services: Services = request.app.state.services
    output = batch_output_files.output_file(file_id)
    if output is not None:
        return await _output_file(services, await _output_view(services, principal, output), output)
    return _stored_file(await _uploaded(services, principal, file_id))


@router.get(
    "/files/{file_id}/content",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: {
            "content": {"application/jsonl": {"schema": {"type": "string", "description": "JSON lines"}}},
            "description": "the file's bytes",
        },
        **_ERRORS,
    },
)
async def file_content(file_id: FileId, request: Request, principal: Authenticated) -> StreamingResponse:
    services: Services = request.app.state.services
    output = batch_output_files.output_file(file_id)
    if output is None:
        stored = await _uploaded(services, principal, file_id)
        return StreamingResponse(batch_files.file_chunks(services.engine, stored), media_type="application/jsonl")
    view = await _output_view(services, principal, output)
    lines = batch_output_files.lines(
        services.engine, view, output, chunk_lines=services.settings.batch_results_chunk_lines
    )
    return StreamingResponse(lines, media_type="application/jsonl")


@router.post("/batches", response_model=OpenAIBatch, responses={**_ERRORS, 413: {"model": ErrorBody}})
async def create_batch(body: CreateBatch, request: Request, principal: Authenticated) -> Any:
    services: Services = request.app.state.services
    stored = await _uploaded(services, principal, body.input_file_id)
    window_s = completion_window_s(body.completion_window, max_s=int(services.settings.batch_completion_window_max_s))
    options = BatchOptions(
        endpoint=body.endpoint,
        completion_window_s=window_s,
        metadata=body.metadata,
        input_file_id=stored.id,
        output_expires_after_s=body.output_expires_after.seconds if body.output_expires_after is not None else None,
    )
    lines = numbered_lines(
        batch_files.file_chunks(services.engine, stored), line_max_bytes=services.settings.batch_line_max_bytes
    )
    created = await store(services, principal, lines, options)
    return await _openai_batch(services, principal, created.batch_id)


async def _output_view(
    services: Services, principal: Principal, output: batch_output_files.OutputFile
) -> batch_queries.BatchView:
    """The batch of an output or error file still kept (past its `output_expires_after`, it is gone); the file of a
    batch that does not exist (or no longer) is not found, as a file."""
    view = await batch_queries.batch(
        services.engine, principal.workspace_id, output.batch_id, catalogue=services.catalogue
    )
    if view is None:
        raise NotFound(f"file '{output.file_id}' not found")
    expires_at = view.results_expire_at
    if expires_at is not None and expires_at <= utc_now():
        raise NotFound(f"file '{output.file_id}' has expired (the batch's output_expires_after)")
    return view


async def _view(services: Services, principal: Principal, batch_id: str) -> batch_queries.BatchView:
    view = await batch_queries.batch(services.engine, principal.workspace_id, batch_id, catalogue=services.catalogue)
    if view is None:
        raise NotFound(f"batch '{batch_id}' not found")
    return view


async def _openai_batch(services: Services, principal: Principal, batch_id: str) -> OpenAIBatch:
    view = await _view(services, principal, batch_id)
    return batch_rendering.openai_batch(view, input_file_id=view.row.input_file_id or "")


@router.get("/batches/{batch_id}", response_model=OpenAIBatch, responses=_ERRORS)
async def retrieve_batch(batch_id: BatchId, request: Request, principal: Authenticated) -> OpenAIBatch:
    return await _openai_batch(request.app.state.services, principal, batch_id)


@router.post("/batches/{batch_id}/cancel", response_model=OpenAIBatch, responses=_ERRORS)
async def cancel_batch(batch_id: BatchId, request: Request, principal: Authenticated) -> OpenAIBatch:
    services: Services = request.app.state.services
    await _view(services, principal, batch_id)
    await batch_writes.request_cancel(services.engine, principal.workspace_id, batch_id)
    return await _openai_batch(services, principal, batch_id)


@router.get("/batches", response_model=OpenAIBatchList, responses=_ERRORS, dependencies=[query_strings.SINGLE_VALUED])
async def list_batches(
    request: Request,
    principal: Authenticated,
    after: Annotated[Label64 | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OpenAIBatchList:
    """The workspace's batches, newest first; `after` is the last batch id of the page before. The cursor is a
    position: it stays valid once the results' retention removed its batch; an `after` that is no batch id of this
    API's form and names no batch of the workspace is a 404."""
    services: Services = request.app.state.services
    cursor = None
    if after is not None:
        created_at = dated_ids.created_at(BATCH_PREFIX, after) or await batch_queries.created_at(
            services.engine, principal.workspace_id, after
        )
        if created_at is None:
            raise NotFound(f"batch '{after}' not found")
        cursor = (created_at, after)
    views = await batch_queries.page(
        services.engine, principal.workspace_id, after=cursor, limit=limit + 1, catalogue=services.catalogue
    )
    data = [batch_rendering.openai_batch(view, input_file_id=view.row.input_file_id or "") for view in views[:limit]]
    return OpenAIBatchList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(views) > limit,
    )
