"""Runs one dispatched job over its route: retries on the same model, then falls back to the next.

This is the only layer that retries provider calls. A retriable failure is retried with backoff; when a
model's attempts run out (or its retry-after is longer than we would wait) the next model of the route is
tried; a non-retriable failure ends the job at once. The outcome is always a `UsageRecorded`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, JobError, UsageRecorded
from workers.providers.base import (
    ProviderAdapter,
    ProviderAuthFailed,
    ProviderCall,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
)
from workers.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProviderSlot:
    """A provider's adapter and the cap on calls in flight to it from this process."""

    adapter: ProviderAdapter
    limiter: asyncio.Semaphore
    timeout_s: float


def _job_error(error: ProviderError) -> JobError:
    if isinstance(error, ProviderRejected):
        code = ErrorCode.MODEL_NOT_FOUND if error.code == "model_not_found" else ErrorCode.INVALID_REQUEST
        return JobError(code=code, message=f"the provider refused the request: {error.message}")
    if isinstance(error, ProviderRateLimited):
        retry_after = int(error.retry_after_s) + 1 if error.retry_after_s is not None else None
        return JobError(
            code=ErrorCode.RATE_LIMITED, message="the provider is rate limiting; retry later", retry_after_s=retry_after
        )
    if isinstance(error, ProviderTimeout):
        return JobError(code=ErrorCode.UPSTREAM_TIMEOUT, message="the provider did not answer in time")
    if isinstance(error, ProviderAuthFailed):
        return JobError(code=ErrorCode.UPSTREAM_ERROR, message="the provider refused our credentials")
    return JobError(code=ErrorCode.UPSTREAM_ERROR, message=f"the provider failed: {error.message}")


async def execute(
    job: ChatJobDispatched,
    catalogue: Catalogue,
    providers: Mapping[str, ProviderSlot],
    policy: RetryPolicy,
) -> UsageRecorded:
    last_error: ProviderError | None = None
    attempts = 0
    for model_id in job.route:
        model = catalogue.get(model_id)
        slot = providers[model.provider]
        routing = job.params.routing
        call = ProviderCall(
            upstream_model=model.upstream,
            messages=job.params.messages,
            max_tokens=min(job.params.max_tokens, model.max_output_tokens),
            temperature=job.params.temperature,
            top_p=job.params.top_p,
            stop=job.params.stop,
            timeout_s=routing.provider_timeout_s if routing and routing.provider_timeout_s else slot.timeout_s,
            max_tokens_field=model.max_tokens_field,
        )
        for attempt in range(1, policy.attempts_max + 1):
            attempts += 1
            try:
                async with slot.limiter:
                    result = await slot.adapter.complete(call)
            except ProviderError as error:
                last_error = error
                log.warning("job %s on %s attempt %d: %s", job.job_id, model_id, attempt, error)
                if not error.retriable:
                    return _failed(job, error, attempts)
                if attempt == policy.attempts_max:
                    break
                if error.retry_after_s is not None and error.retry_after_s > policy.cap_s:
                    break
                await asyncio.sleep(policy.delay_s(attempt, error.retry_after_s))
                continue
            return UsageRecorded(
                workspace_id=job.workspace_id,
                job_id=job.job_id,
                traceparent=job.traceparent,
                outcome="completed",
                model_id=model.id,
                provider=model.provider,
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                answer=result.text,
                finish_reason=result.finish_reason,
                attempts=attempts,
                usage_estimated=result.usage_estimated,
            )
    assert last_error is not None, "a route has at least one model"
    return _failed(job, last_error, attempts)


def _failed(job: ChatJobDispatched, error: ProviderError, attempts: int) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        outcome="failed",
        error=_job_error(error),
        attempts=attempts,
    )


def internal_failure(job: ChatJobDispatched) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        outcome="failed",
        error=JobError(code=ErrorCode.INTERNAL, message="the worker failed to run the job; nothing was charged"),
    )
