"""Admission: hold credit for submitted jobs, then dispatch them; or refuse them with a clear code.

A job is priced here, once, with the catalogue as it is now; its terms (price and limits per model of its
route) are recorded with the hold and used at settlement. A job the catalogue cannot price (a model renamed
or removed while the job was queued) or that cannot be held at all (absurd bounds) is rejected, never held.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import domain, holds, pricing
from schemas import topics
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, ChatJobSubmitted, JobError, JobFinished

log = logging.getLogger(__name__)

Outcome = tuple[str, ChatJobDispatched] | JobFinished | None


async def admit(conn: AsyncConnection, catalogue: Catalogue, jobs: list[ChatJobSubmitted]) -> list[Outcome]:
    """Write the holds (or refusals) and return, per job, what to publish once they commit: a dispatch, the
    refusal, or nothing for a replayed job that has already finished (its result went out at settlement)."""
    admissions = await holds.admit_batch(conn, [hold_request(catalogue, job) for job in jobs])
    return [_next_step(catalogue, job, admission) for job, admission in zip(jobs, admissions, strict=True)]


def hold_request(catalogue: Catalogue, job: ChatJobSubmitted) -> holds.HoldRequest:
    """Price one job at today's catalogue; a job that cannot be priced or held carries its refusal."""
    terms = pricing.route_terms(catalogue, (job.model_id, *job.route))
    refusal: dict[str, Any] | None = None
    hold = 0
    if terms is None:
        missing = [m for m in (job.model_id, *job.route) if catalogue.resolve(m) is None]
        refusal = _refusal(ErrorCode.MODEL_NOT_FOUND, f"model {', '.join(missing)} is not in the catalogue")
        terms = {}
    else:
        problem = domain.hold_problem(job.input_tokens_estimate, job.params.max_tokens, terms)
        if problem is not None:
            refusal = _refusal(ErrorCode.INVALID_REQUEST, f"the job cannot be held: {problem}")
        else:
            hold = domain.route_hold(job.input_tokens_estimate, job.params.max_tokens, terms)
    return holds.HoldRequest(
        job_id=job.job_id,
        workspace_id=job.workspace_id,
        api_key_id=job.api_key_id,
        model_id=job.model_id,
        hold=hold,
        tags=job.params.tags,
        terms=terms,
        refusal=refusal,
    )


def _refusal(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"code": code.value, "message": message}


def _next_step(catalogue: Catalogue, job: ChatJobSubmitted, admission: holds.Admission) -> Outcome:
    if admission.replayed and admission.status not in ("queued", "rejected"):
        return None
    if not admission.admitted:
        error = admission.error or holds.INSUFFICIENT
        return JobFinished(
            workspace_id=job.workspace_id,
            job_id=job.job_id,
            traceparent=job.traceparent,
            status="rejected",
            model_id=job.model_id,
            balance_left=admission.balance_left,
            error=JobError.model_validate(error),
        )
    model = catalogue.resolve(job.model_id)
    if model is None:
        # A replay of a job held under a model since removed: it cannot be dispatched again; the expiry sweep
        # ends it and releases its hold.
        log.warning("replayed job %s names model %s, no longer in the catalogue", job.job_id, job.model_id)
        return None
    dispatch = ChatJobDispatched(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        model_id=job.model_id,
        route=job.route,
        hold_tokens=admission.hold_tokens,
        params=job.params,
    )
    return topics.dispatch_topic(model.pool, topics.Lane(job.lane)), dispatch
