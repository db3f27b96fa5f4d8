"""`GET /api/v1/balance`: the workspace's balance summary in credit tokens."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from ingress.auth import Authenticated
from ingress.services import Services
from ledger import queries
from schemas.errors import NotFound

router = APIRouter()


@router.get("/api/v1/balance")
async def get_balance(request: Request, principal: Authenticated) -> dict[str, Any]:
    services: Services = request.app.state.services
    async with services.engine.connect() as conn:
        summary = await queries.balance_summary(conn, principal.workspace_id)
    if summary is None:
        raise NotFound("workspace has no ledger accounts")
    return asdict(summary)
