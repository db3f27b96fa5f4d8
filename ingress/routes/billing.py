"""Billing reads for the caller's workspace: `GET /api/v1/balance` and `GET /api/v1/usage`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ingress import query_strings
from ingress.api_models import Balance, UsageReport
from ingress.auth import Billing, Reader
from ingress.openapi_document import error_responses
from ingress.periods import check_period
from ingress.services import Services
from ledger import finance_queries, queries
from schemas.errors import NotFound
from schemas.text import Label64, Label128

router = APIRouter()


@router.get("/api/v1/balance", response_model=Balance, responses=error_responses(401, 403, 404))
async def get_balance(request: Request, principal: Reader) -> dict[str, Any]:
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        summary = await queries.balance_summary(conn, principal.workspace_id)
        if summary is None:
            raise NotFound("workspace has no ledger accounts")
        power = principal.power
        spend = await queries.key_spend(
            conn,
            principal.key_id,
            datetime.now(UTC),
            daily_cap=power.daily_spend_max_tokens,
            monthly_cap=power.monthly_spend_max_tokens,
        )
        details = await finance_queries.balance_details(conn, principal.workspace_id)
    # The calling key's spend caps, as admission applies them: running jobs' holds count as spent.
    key = {"key_id": principal.key_id} | {period: asdict(line) for period, line in spend.items()}
    return asdict(summary) | details | {"key_spend": key}


@router.get(
    "/api/v1/usage",
    response_model=UsageReport,
    responses=error_responses(400, 401, 403),
    dependencies=[query_strings.SINGLE_VALUED],
)
async def get_usage(
    request: Request,
    principal: Billing,
    since: datetime | None = None,
    until: datetime | None = None,
    tag: Annotated[Label64 | None, Query()] = None,
    model: Annotated[Label128 | None, Query()] = None,
) -> dict[str, Any]:
    """Completed jobs' tokens and cost by answering model and key, for a period, a tag or a model."""
    check_period(since, until)
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        lines = await queries.usage(
            conn,
            principal.workspace_id,
            since=since,
            until=until,
            tag=tag,
            model_id=services.catalogue.model_id_of(model) if model is not None else None,
        )
    totals = {
        "jobs": sum(line.jobs for line in lines),
        "input_tokens": sum(line.input_tokens for line in lines),
        "output_tokens": sum(line.output_tokens for line in lines),
        "cost_tokens": sum(line.cost_tokens for line in lines),
    }
    return {"data": [asdict(line) for line in lines], "totals": totals}
