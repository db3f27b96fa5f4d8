"""The native batch API: `POST /api/v1/batches` (streamed JSONL, or a JSON document for small batches), read one or
a page, stream its results, cancel it. Another workspace's batch is a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from ingress import batch_rendering, batch_writes, query_strings
from ingress.auth import Authenticated
from ingress.batch_ingest import BatchOptions, IngestLimits, completion_window_s, ingest, results_expire_after_s
from ingress.batch_stream import numbered_lines
from ingress.json_response import OrjsonResponse
from ingress.key_policy import Principal
from ingress.services import Services
from ledger import batch_queries
from schemas import json_integers
from schemas.api import ErrorBody
from schemas.batches import Batch, BatchCreate, BatchList, BatchRefusedBody
from schemas.errors import ErrorCode, InvalidRequest, NotFound
from schemas.events import utc_now
from schemas.text import PRINTABLE

router = APIRouter(prefix="/api/v1/batches")

JSONL_TYPES = frozenset(
    {"application/jsonl", "application/x-ndjson", "application/x-jsonlines", "application/jsonlines"}
)
_READ_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (400, 401, 403, 404)}
BatchId = Annotated[str, Path(max_length=64), PRINTABLE]
# The batch options a JSONL body or a bare JSON array takes in the query string.
QUERY_OPTIONS = ("completion_window", "all_or_nothing", "metadata", "results_expire_after")


@router.post(
    "",
    status_code=201,
    response_model=Batch,
    responses={
        400: {"model": BatchRefusedBody, "description": "the batch was refused as a whole (its bad lines listed)"},
        **{status: {"model": ErrorBody} for status in (401, 403, 404, 413)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/jsonl": {"schema": {"type": "string", "description": "one OpenAI batch line per line"}},
                "application/json": {"schema": BatchCreate.model_json_schema()},
            },
        }
    },
    dependencies=[query_strings.SINGLE_VALUED],
)
async def create_batch(
    request: Request,
    principal: Authenticated,
    completion_window: Annotated[str, Query(max_length=16)] = "24h",
    all_or_nothing: bool = False,
    metadata: Annotated[str | None, Query(max_length=4096, description="a JSON object of strings")] = None,
    results_expire_after: Annotated[
        str | None, Query(max_length=16, description="delete its results this long after it ends: 1h to 30d")
    ] = None,
) -> Any:
    services: Services = request.app.state.services
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type in JSONL_TYPES:
        options = _options(services, completion_window, all_or_nothing, _metadata(metadata), results_expire_after)
        lines = numbered_lines(request.stream(), line_max_bytes=services.settings.batch_line_max_bytes)
    elif media_type == "application/json":
        document = await _json_batch(request, completion_window, all_or_nothing, metadata, results_expire_after)
        options = _options(
            services,
            document.completion_window,
            document.all_or_nothing,
            document.metadata,
            document.results_expire_after,
        )
        lines = _documents(document.requests)
    else:
        raise InvalidRequest("send the batch as application/jsonl (one line per request) or as application/json")
    stored = await store(services, principal, lines, options)
    view = await batch_queries.batch(
        services.engine, principal.workspace_id, stored.batch_id, catalogue=services.catalogue
    )
    assert view is not None, "the batch was just committed"
    return OrjsonResponse(batch_rendering.batch(view).model_dump(), status_code=201)


async def store(
    services: Services, principal: Principal, lines: AsyncIterator[tuple[int, Any]], options: BatchOptions
) -> Any:
    settings = services.settings
    limits = IngestLimits(
        lines_max=settings.batch_lines_max,
        errors_max=settings.batch_errors_max,
        messages_max=settings.messages_max,
        event_max_bytes=settings.kafka_message_max_bytes,
    )
    return await ingest(
        services.engine,
        lines,
        principal=principal,
        catalogue=services.catalogue,
        options=options,
        limits=limits,
        now=utc_now(),
    )


def _options(
    services: Services,
    window: str,
    all_or_nothing: bool,
    metadata: dict[str, str] | None,
    results_expire_after: str | None,
) -> BatchOptions:
    window_s = completion_window_s(window, max_s=int(services.settings.batch_completion_window_max_s))
    return BatchOptions(
        endpoint="/v1/chat/completions",
        completion_window_s=window_s,
        metadata=metadata,
        all_or_nothing=all_or_nothing,
        output_expires_after_s=results_expire_after_s(results_expire_after) if results_expire_after else None,
    )


def _metadata(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        return BatchCreate.model_validate({"requests": [{}], "metadata": orjson.loads(raw)}).metadata
    except (orjson.JSONDecodeError, ValidationError) as error:
        raise InvalidRequest(
            "'metadata' must be a JSON object of at most 16 printable strings: keys of up to 64 characters, "
            "values of up to 512"
        ) from error


async def _json_batch(
    request: Request, window: str, all_or_nothing: bool, metadata: str | None, results_expire_after: str | None
) -> BatchCreate:
    """`{"requests": [...], options}`, or a bare JSON array of lines with the options as query parameters."""
    body = await request.body()
    try:
        if body.lstrip()[:1] == b"[":
            return BatchCreate(
                requests=_array(body),
                completion_window=window,
                all_or_nothing=all_or_nothing,
                metadata=_metadata(metadata),
                results_expire_after=results_expire_after,
            )
        _refuse_query_options(request)
        return BatchCreate.model_validate_json(body)
    except orjson.JSONDecodeError as error:
        if (wide := json_integers.wide_integer_refused(body)) is not None:
            raise InvalidRequest(str(wide)) from error
        raise InvalidRequest(f"body is not valid JSON: {error}", code=ErrorCode.INVALID_JSON) from error
    except ValidationError as error:
        first = error.errors()[0]
        # pydantic's parser calls an integer too long for it invalid JSON; it is named by its field instead.
        if first["type"] == "json_invalid" and (wide := json_integers.wide_integer_refused(body)) is not None:
            raise InvalidRequest(str(wide)) from error
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidRequest(f"'{where}': {first['msg']}" if where else first["msg"]) from error


def _refuse_query_options(request: Request) -> None:
    """A batch document carries its own options: one also given in the query was ignored unseen (NUL and all),
    and the batch run with the document's (or the default) instead, so it is refused by name."""
    for name in QUERY_OPTIONS:
        if name in request.query_params:
            raise InvalidRequest(
                f"query parameter {name!r} applies to a JSONL body or a bare JSON array; "
                f'a {{"requests": [...]}} document carries its options in the document'
            )


def _array(body: bytes) -> Any:
    """A bare JSON array of lines. orjson reads an integer beyond 64 bits as a float, so a body that may hold one
    is parsed exactly: each line holding one is then refused by its number, as a JSONL line is."""
    requests = orjson.loads(body)
    if not json_integers.may_hold_wide_integer(requests):
        return requests
    try:
        return json_integers.loads_exact(body)
    except ValueError as error:
        raise InvalidRequest(str(error)) from error


async def _documents(requests: list[Any]) -> AsyncIterator[tuple[int, Any]]:
    for number, document in enumerate(requests, start=1):
        yield number, document


@router.get(
    "",
    response_model=BatchList,
    responses={status: {"model": ErrorBody} for status in (400, 401, 403)},
    dependencies=[query_strings.SINGLE_VALUED],
)
async def list_batches(
    request: Request,
    principal: Authenticated,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> BatchList:
    services: Services = request.app.state.services
    views = await batch_queries.page(
        services.engine, principal.workspace_id, after=_cursor(cursor), limit=limit + 1, catalogue=services.catalogue
    )
    shown = views[:limit]
    last = shown[-1].row if shown and len(views) > limit else None
    return BatchList(
        data=[batch_rendering.batch(view) for view in shown],
        has_more=len(views) > limit,
        next_cursor=f"{last.created_at.isoformat()}|{last.id}" if last is not None else None,
    )


def _cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        moment, batch_id = cursor.split("|", 1)
        return datetime.fromisoformat(moment), batch_id
    except ValueError as error:
        raise InvalidRequest("'cursor' is not one this API gave out") from error


@router.get("/{batch_id}", response_model=Batch, responses=_READ_ERRORS)
async def get_batch(batch_id: BatchId, request: Request, principal: Authenticated) -> Batch:
    return batch_rendering.batch(await _view(request, principal, batch_id))


async def _view(request: Request, principal: Principal, batch_id: str) -> batch_queries.BatchView:
    services: Services = request.app.state.services
    view = await batch_queries.batch(services.engine, principal.workspace_id, batch_id, catalogue=services.catalogue)
    if view is None:
        raise NotFound(f"batch '{batch_id}' not found")
    return view


@router.get(
    "/{batch_id}/results",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: {
            "content": {"application/jsonl": {"schema": {"type": "string", "description": "JSON lines"}}},
            "description": "one line per finished request",
        },
        **_READ_ERRORS,
    },
)
async def get_results(batch_id: BatchId, request: Request, principal: Authenticated) -> StreamingResponse:
    view = await _view(request, principal, batch_id)
    services: Services = request.app.state.services

    async def lines() -> AsyncIterator[bytes]:
        async for line in batch_queries.results(
            services.engine, view, chunk_lines=services.settings.batch_results_chunk_lines
        ):
            yield batch_rendering.result_line(line)

    return StreamingResponse(lines(), media_type="application/jsonl")


@router.post("/{batch_id}/cancel", response_model=Batch, responses=_READ_ERRORS)
async def cancel_batch(batch_id: BatchId, request: Request, principal: Authenticated) -> Batch:
    services: Services = request.app.state.services
    await _view(request, principal, batch_id)
    await batch_writes.request_cancel(services.engine, principal.workspace_id, batch_id)
    return batch_rendering.batch(await _view(request, principal, batch_id))
