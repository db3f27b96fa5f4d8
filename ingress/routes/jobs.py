"""`GET /api/v1/jobs/{id}`: a job's state, and once finished its billed result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy.exc import SQLAlchemyError

from ingress import acceptance, rendering
from ingress.api_models import Job
from ingress.auth import Authenticated
from ingress.openapi_document import error_responses
from ingress.services import Services
from ledger import queries
from schemas.errors import NotFound
from schemas.text import PRINTABLE

router = APIRouter()


@router.get(
    "/api/v1/jobs/{job_id}",
    response_model=Job,
    response_model_exclude_unset=True,
    responses=error_responses(400, 401, 403, 404),
)
async def get_job(
    job_id: Annotated[str, Path(max_length=128), PRINTABLE], request: Request, principal: Authenticated
) -> dict[str, Any]:
    services: Services = request.app.state.services
    # A job this ingress accepted while the database was away: known here before its outbox row is written.
    pending_model = services.relay.pending_model(job_id, principal.workspace_id)
    try:
        async with services.engine.connect() as conn:
            job = await queries.job(conn, principal.workspace_id, job_id)
        if job is not None:
            return rendering.polled_job(job)
        model_id = pending_model or await acceptance.accepted_model(
            services.engine, job_id=job_id, workspace_id=principal.workspace_id
        )
    except SQLAlchemyError:
        if pending_model is None:
            raise
        model_id = pending_model
    if model_id is None:
        raise NotFound(f"job '{job_id}' not found")
    return {"id": job_id, "status": "queued", "model": model_id}
