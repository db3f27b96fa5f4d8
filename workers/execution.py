"""Runs one dispatched job over its route: retries on the same model, then falls back to the next.

This is the only layer that retries provider calls. A retriable failure is retried with backoff; when a
model's attempts run out (or its retry-after is longer than we would wait) the next model of the route is
tried. A non-retriable failure ends the job at once, unless it is the gateway's own standing with the provider
(an upstream 404 for the model, refused credentials, an exhausted quota: `falls_back`): another try would fail
alike, but the next model of the route may answer. The outcome is always a `UsageRecorded`.

A job's deadline bounds all of it: a job already past its deadline is reported `expired` without calling
any provider, and no provider timeout or backoff sleep reaches past the time left.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from schemas.catalogue import Catalogue, ModelEntry
from schemas.errors import ErrorCode
from schemas.events import ChatJobDispatched, JobError, UsageRecorded
from schemas.topics import Lane
from workers import output_checks
from workers.lanes import LaneLimiter
from workers.providers import errors as provider_codes
from workers.providers.base import (
    ProviderAdapter,
    ProviderAuthFailed,
    ProviderCall,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderResult,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.errors import safe_message
from workers.providers.streams.contract import StreamAdapter
from workers.retry import RetryPolicy
from workers.telemetry import WorkerTelemetry

if TYPE_CHECKING:
    from workers.early_start import EarlyCall

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# The job codes a provider failure can end a job with; anything else a provider says is an upstream error.
# Not model_not_found: that is our catalogue's answer; a provider's 404 for a model it lists is an upstream error.
PROVIDER_JOB_CODES = frozenset(
    {
        ErrorCode.INVALID_REQUEST,
        ErrorCode.RATE_LIMITED,
        ErrorCode.UPSTREAM_ERROR,
        ErrorCode.UPSTREAM_TIMEOUT,
    }
)
# Provider codes that say more than a job code, and the job code (so the status, from ERRORS) each ends as.
JOB_CODE_OF = {
    provider_codes.QUOTA_EXHAUSTED: ErrorCode.RATE_LIMITED,
    provider_codes.UPSTREAM_AUTH_FAILED: ErrorCode.UPSTREAM_ERROR,
    provider_codes.UPSTREAM_UNAVAILABLE: ErrorCode.UPSTREAM_ERROR,
    provider_codes.UPSTREAM_NOT_FOUND: ErrorCode.UPSTREAM_ERROR,
    provider_codes.PROTOCOL_ERROR: ErrorCode.UPSTREAM_ERROR,
    provider_codes.ANSWER_TOO_LARGE: ErrorCode.UPSTREAM_ERROR,
    provider_codes.CONTENT_BLOCKED: ErrorCode.INVALID_REQUEST,
    provider_codes.PAYLOAD_TOO_LARGE: ErrorCode.INVALID_REQUEST,
}


@dataclass(frozen=True, slots=True)
class ProviderSlot:
    """A provider's adapter and the cap on calls in flight to it from this process."""

    adapter: ProviderAdapter
    limiter: LaneLimiter
    timeout_s: float
    # The same provider's streaming calls (workers/streaming.py).
    stream_adapter: StreamAdapter | None = None


def job_code(error: ProviderError) -> ErrorCode:
    """The job code a provider failure ends a job with."""
    if isinstance(error, ProviderAuthFailed):
        return ErrorCode.UPSTREAM_ERROR
    code = JOB_CODE_OF.get(error.code)
    if code is None:
        try:
            code = ErrorCode(error.code)
        except ValueError:
            return ErrorCode.UPSTREAM_ERROR
    return code if code in PROVIDER_JOB_CODES else ErrorCode.UPSTREAM_ERROR


def falls_back(error: ProviderError) -> bool:
    """Whether a failure that no retry on the same model would cure still leaves the route's next model to try.

    Failures of the gateway's own standing with a provider do: the provider cannot serve the model (an upstream
    404), refuses the gateway's credentials (401/403) or has no quota left for it. None says anything of the
    caller's request, and the next model, often another provider's, may well answer it. A request the provider
    refused (ProviderRejected) would be refused alike by the next one, and ends the job."""
    if isinstance(error, ProviderRateLimited):
        return not error.retriable
    return isinstance(error, (ProviderUnavailable, ProviderAuthFailed))


def _job_error(error: ProviderError) -> JobError:
    code = job_code(error)
    if error.code == provider_codes.UPSTREAM_NOT_FOUND:
        message = f"the provider does not serve this model (HTTP 404; the gateway's configuration): {error.message}"
    elif isinstance(error, ProviderRejected):
        message = f"the provider refused the request: {error.message}"
    elif isinstance(error, ProviderRateLimited):
        retry_after = int(error.retry_after_s) + 1 if error.retry_after_s is not None else None
        return JobError(code=code, message="the provider is rate limiting; retry later", retry_after_s=retry_after)
    elif isinstance(error, ProviderTimeout):
        message = "the provider did not answer in time"
    elif isinstance(error, ProviderAuthFailed):
        message = "the provider refused our credentials"
    else:
        message = f"the provider failed: {error.message}"
    return JobError(code=code, message=safe_message(message))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def seconds_left(job: ChatJobDispatched, now: datetime) -> float | None:
    """Seconds until the job's deadline (negative once past), or None for a job without one."""
    if job.deadline_at is None:
        return None
    deadline = job.deadline_at if job.deadline_at.tzinfo else job.deadline_at.replace(tzinfo=UTC)
    return (deadline - now).total_seconds()


async def execute(
    job: ChatJobDispatched,
    catalogue: Catalogue,
    providers: Mapping[str, ProviderSlot],
    policy: RetryPolicy,
    clock: Clock = _utc_now,
    lane: Lane = Lane.INTERACTIVE,
    telemetry: WorkerTelemetry | None = None,
    early: EarlyCall | None = None,
) -> UsageRecorded:
    """`early`: the job's call already started before its dispatch (workers/early_start.py), its first attempt."""
    last_error: ProviderError | None = None
    attempts = 0
    for position, model_id in enumerate(job.route):
        if position and telemetry is not None:
            telemetry.fell_back(job.route[position - 1])
        model = catalogue.get(model_id)
        slot = providers[model.provider]
        call = provider_call(job, model, slot)
        for attempt in range(1, policy.attempts_max + 1):
            left_s = seconds_left(job, clock())
            if left_s is not None and left_s <= 0:
                return expired(job, attempts)
            attempts += 1
            try:
                if early is not None and position == 0 and attempt == 1:
                    with telemetry.call(model.provider, model.id) if telemetry else contextlib.nullcontext():
                        result = await early.result()
                else:
                    async with slot.limiter.held(lane):
                        with telemetry.call(model.provider, model.id) if telemetry else contextlib.nullcontext():
                            result = await slot.adapter.complete(_within(call, left_s))
            except ProviderError as error:
                last_error = error
                log.warning("job %s on %s attempt %d: %s", job.job_id, model_id, attempt, error)
                if not error.retriable and not falls_back(error):
                    return _failed(job, error, attempts)
                if not error.retriable or attempt == policy.attempts_max:
                    break
                if error.retry_after_s is not None and error.retry_after_s > policy.cap_s:
                    break
                await _sleep_within(job, policy.delay_s(attempt, error.retry_after_s), clock)
                if telemetry is not None:
                    telemetry.retried(model.provider, model.id)
                continue
            return output_checks.apply(
                _completed(job, model.id, model.provider, result, attempts), job.params.output_checks
            )
    assert last_error is not None, "a route has at least one model"
    left_s = seconds_left(job, clock())
    if left_s is not None and left_s <= 0:
        return expired(job, attempts)
    return _failed(job, last_error, attempts)


def provider_call(job: ChatJobDispatched, model: ModelEntry, slot: ProviderSlot) -> ProviderCall:
    """What one model of the route is asked: the job's prompt, sampling and options, within the model's bounds."""
    routing = job.params.routing
    return ProviderCall(
        upstream_model=model.upstream,
        messages=job.params.messages,
        max_tokens=min(job.params.max_tokens, model.max_output_tokens),
        temperature=job.params.temperature,
        top_p=job.params.top_p,
        stop=job.params.stop,
        timeout_s=routing.provider_timeout_s if routing and routing.provider_timeout_s else slot.timeout_s,
        max_tokens_field=model.max_tokens_field,
        options=job.params.options,
    )


def _within(call: ProviderCall, left_s: float | None) -> ProviderCall:
    """The call with its timeout cut to the time the job has left."""
    if left_s is None or left_s >= call.timeout_s:
        return call
    return dataclasses.replace(call, timeout_s=left_s)


async def _sleep_within(job: ChatJobDispatched, delay_s: float, clock: Clock) -> None:
    left_s = seconds_left(job, clock())
    await asyncio.sleep(delay_s if left_s is None else max(0.0, min(delay_s, left_s)))


def _completed(
    job: ChatJobDispatched, model_id: str, provider: str, result: ProviderResult, attempts: int
) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        outcome="completed",
        model_id=model_id,
        provider=provider,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        answer=result.text,
        finish_reason=result.finish_reason,
        attempts=attempts,
        usage_estimated=result.usage_estimated,
        choices=result.choices,
        cached_input_tokens=result.cached_input_tokens,
        reasoning_tokens=result.reasoning_tokens,
        system_fingerprint=result.system_fingerprint,
    )


def _failed(job: ChatJobDispatched, error: ProviderError, attempts: int) -> UsageRecorded:
    return UsageRecorded(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        outcome="failed",
        error=_job_error(error),
        attempts=attempts,
    )


def expired(job: ChatJobDispatched, attempts: int) -> UsageRecorded:
    """The job outlived its deadline: reported at once, so its hold is released; nothing is charged."""
    return UsageRecorded(
        workspace_id=job.workspace_id,
        job_id=job.job_id,
        traceparent=job.traceparent,
        outcome="expired",
        error=JobError(
            code=ErrorCode.EXPIRED, message="the job passed its deadline before a provider answered; nothing charged"
        ),
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
