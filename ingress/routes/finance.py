"""Finance reads for the caller's workspace: ledger entries, statements (JSON or streamed CSV), usage by day,
top-ups and alerts. Read-only: money moves only in the ledger (writes arrive there as `ledger.commands`).

A workspace key with the `billing` scope sees its own workspace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ingress import query_strings
from ingress.auth import Billing
from ingress.openapi_document import error_responses
from ingress.page_cursors import row_id_cursor
from ingress.periods import check_period
from ingress.services import Services
from ledger import finance_queries
from ledger.finance_queries import EntryFilter
from schemas.finance import AlertsPage, EntriesPage, StatementBody, TopupsPage, UsageByDay

router = APIRouter()

# Printable text only, as a key, model or tag is (`schemas.text.Label`): no C0 or C1 control characters, no DEL,
# NUL included, in filters that end up in SQL parameters.
_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]+$"
Text64 = Annotated[str | None, Query(max_length=64, pattern=_PRINTABLE)]
Text128 = Annotated[str | None, Query(max_length=128, pattern=_PRINTABLE)]
EntryKind = Literal["grant", "topup", "hold", "debit", "release", "refund", "adjustment", "invoice_paid"]


@router.get(
    "/api/v1/ledger/entries",
    response_model=EntriesPage,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_entries(
    request: Request,
    principal: Billing,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: EntryKind | None = None,
    key: Text64 = None,
    model: Text128 = None,
    tag: Text64 = None,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=finance_queries.ENTRIES_PAGE_MAX)] = 100,
) -> EntriesPage:
    """Journal entries, newest first, filtered by period, kind, key, model or tag; follow `next_cursor`."""
    check_period(since, until)
    services: Services = request.app.state.services
    if model is not None:
        model = services.catalogue.model_id_of(model)
    where = EntryFilter(since=since, until=until, kind=kind, api_key_id=key, model=model, tag=tag)
    async with services.engine.connect() as conn:
        page, next_cursor = await finance_queries.entries(
            conn, principal.workspace_id, where, cursor=row_id_cursor(cursor), limit=limit
        )
    return EntriesPage.model_validate({"data": page, "next_cursor": str(next_cursor) if next_cursor else None})


@router.get(
    "/api/v1/ledger/statement",
    response_model=StatementBody,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the statement, as JSON or CSV"},
        **error_responses(400, 401, 403),
    },
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_statement(
    request: Request,
    principal: Billing,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["json", "csv"] = "json",
) -> StatementBody | StreamingResponse:
    """Opening balance, top-ups, debits by model, refunds, adjustments, closing balance; `format=csv` streams
    the summary followed by every entry of the period with the running balance (no row cap)."""
    check_period(since, until)
    services: Services = request.app.state.services
    if format == "csv":

        async def body() -> AsyncIterator[bytes]:
            async with services.engine.connect() as conn:
                async for chunk in finance_queries.statement_csv(
                    conn, principal.workspace_id, since=since, until=until
                ):
                    yield chunk

        filename = f"statement-{principal.workspace_id}.csv"
        return StreamingResponse(
            body(), media_type="text/csv", headers={"content-disposition": f'attachment; filename="{filename}"'}
        )
    async with services.engine.connect() as conn:
        found = await finance_queries.statement(conn, principal.workspace_id, since=since, until=until)
    return StatementBody.model_validate(found.as_json())


@router.get(
    "/api/v1/ledger/usage",
    response_model=UsageByDay,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_usage_by_day(
    request: Request,
    principal: Billing,
    since: datetime | None = None,
    until: datetime | None = None,
    tags: Literal["each", "ignored"] = "each",
) -> UsageByDay:
    """Debits by UTC day x model x key x tag (a job with several tags counts under each of them, so such rows add
    up to more than was debited). `tags=ignored`: by day x model x key only, each job once, `tag` null."""
    check_period(since, until)
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        rows = await finance_queries.usage_by_day(
            conn, principal.workspace_id, since=since, until=until, by_tag=tags == "each"
        )
    return UsageByDay.model_validate({"data": rows})


@router.get(
    "/api/v1/topups",
    response_model=TopupsPage,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_topups(
    request: Request,
    principal: Billing,
    cursor: Annotated[str | None, Query(max_length=64, pattern=r"^tu_[0-9a-f]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=finance_queries.LIST_PAGE_MAX)] = 50,
) -> TopupsPage:
    """Top-ups newest first: amount, rate and its version, tokens, method, status and any failure reason."""
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        rows = await finance_queries.topups(conn, principal.workspace_id, cursor=cursor, limit=limit)
    return TopupsPage.model_validate({"data": rows, "next_cursor": rows[-1]["id"] if len(rows) == limit else None})


@router.get(
    "/api/v1/alerts",
    response_model=AlertsPage,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_alerts(
    request: Request,
    principal: Billing,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=finance_queries.LIST_PAGE_MAX)] = 50,
) -> AlertsPage:
    """History of thresholds crossed and top-ups succeeded or failed, newest first."""
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        rows = await finance_queries.alerts(conn, principal.workspace_id, cursor=row_id_cursor(cursor), limit=limit)
    next_cursor = str(rows[-1]["id"]) if len(rows) == limit else None
    return AlertsPage.model_validate({"data": rows, "next_cursor": next_cursor})
