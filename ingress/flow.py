"""Runs one completion request: claim its idempotency key, publish the job, wait for the billed result.

Both HTTP surfaces (the native API and the OpenAI-compatible one) call `complete` and only differ in how
they parse the request and render the `Outcome`.

Disconnect policy: a job, once accepted, is never cancelled by the caller going away. It completes and is
billed exactly once (or fails and releases its hold); the result stays available at `GET /api/v1/jobs/{id}`
and through an idempotent retry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ingress import acceptance, idempotency, rendering, submission
from ingress.keys import Principal
from ingress.prefer import Preferences
from ingress.services import Services
from ledger import queries
from schemas.api import ChatCompletionRequest
from schemas.errors import ServiceUnavailable
from schemas.events import ChatJobSubmitted, JobFinished

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """Either the finished job, or the id of a job still running when the wait ended."""

    job_id: str
    model_id: str
    finished: JobFinished | None
    replayed: bool
    wait_applied_s: float | None


async def complete(
    services: Services,
    principal: Principal,
    chat: ChatCompletionRequest,
    preferences: Preferences,
    *,
    idempotency_key: str | None,
    fingerprint: str,
    traceparent: str | None,
) -> Outcome:
    job = submission.build_job(
        chat, principal, services.catalogue, job_id=submission.new_job_id(), traceparent=traceparent
    )
    settings = services.settings
    wait_s = settings.sync_wait_default_s
    wait_applied = None
    if preferences.wait_s is not None:
        wait_s = wait_applied = min(wait_s, preferences.wait_s)

    if idempotency_key is not None:
        claim = await idempotency.claim(
            services.engine,
            workspace_id=principal.workspace_id,
            key=idempotency_key,
            fingerprint=fingerprint,
            job_id=job.job_id,
            window_s=settings.idempotency_window_s,
        )
        if claim.replayed:
            wait = 0.0 if preferences.respond_async else wait_s
            finished = await _await_existing(services, principal.workspace_id, claim.job_id, wait)
            model_id = finished.model_id if finished else job.model_id
            return Outcome(claim.job_id, model_id, finished, replayed=True, wait_applied_s=wait_applied)

    if preferences.respond_async:
        await _submit(services, job, idempotency_key)
        await acceptance.record_accepted(
            services.engine, job_id=job.job_id, workspace_id=job.workspace_id, model_id=job.model_id
        )
        return Outcome(job.job_id, job.model_id, None, replayed=False, wait_applied_s=None)

    reply = services.replies.expect(job.job_id)
    try:
        await _submit(services, job, idempotency_key)
        finished = await asyncio.wait_for(asyncio.shield(reply), timeout=wait_s)
    except TimeoutError:
        finished = None
        await acceptance.record_accepted(
            services.engine, job_id=job.job_id, workspace_id=job.workspace_id, model_id=job.model_id
        )
    finally:
        services.replies.forget(job.job_id, reply)
    return Outcome(job.job_id, job.model_id, finished, replayed=False, wait_applied_s=wait_applied)


async def _submit(services: Services, job: ChatJobSubmitted, idempotency_key: str | None) -> None:
    try:
        await services.publisher.submit(job)
    except ServiceUnavailable:
        if idempotency_key is not None:
            await idempotency.release(
                services.engine, workspace_id=job.workspace_id, key=idempotency_key, job_id=job.job_id
            )
        raise


async def _await_existing(services: Services, workspace_id: str, job_id: str, wait_s: float) -> JobFinished | None:
    """The result of a job an earlier request created: from the book if finished, else wait for it."""
    reply = services.replies.expect(job_id)
    try:
        async with services.engine.connect() as conn:
            view = await queries.job(conn, workspace_id, job_id)
        if view is not None and view.status in TERMINAL:
            return rendering.finished_from_view(view)
        if wait_s <= 0:
            return None
        return await asyncio.wait_for(asyncio.shield(reply), timeout=wait_s)
    except TimeoutError:
        return None
    finally:
        services.replies.forget(job_id, reply)
