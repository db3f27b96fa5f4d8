"""Translation of provider failures (HTTP statuses, retry hints, transport errors) into ProviderErrors.

Each adapter reads its own error body into an `UpstreamError` (message, the provider's code, and the two
facts that change the class: an exhausted quota and an invalid key); `error_for_status` then decides the
class and `retriable` in one place, so every provider follows the same rules:

    429                      ProviderRateLimited, retriable unless the quota/spend limit is exhausted
    402                      ProviderRateLimited, not retriable (billing: waiting does not help)
    408, 504                 ProviderTimeout, retriable
    409, 5xx, 529            ProviderUnavailable, retriable
    refused / dropped conn.  ProviderUnavailable, retriable (a 502 to the caller, never a timeout's 504)
    read / connect timeout   ProviderTimeout, retriable
    401, 403, invalid key    ProviderAuthFailed, not retriable
    404                      ProviderUnavailable code upstream_not_found, not retriable on that model; the
                             route falls back (the catalogue lists the model: its deployment is misconfigured)
    413                      ProviderRejected code payload_too_large, not retriable
    other 4xx                ProviderRejected code invalid_request, not retriable
    anything else            ProviderProtocolError
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import httpx

from schemas.errors import ErrorCode
from workers.providers.base import (
    ProviderAuthFailed,
    ProviderError,
    ProviderProtocolError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from workers.providers.wire import REPLACEMENT_CHARACTER

# Codes the adapters put in ProviderError.code. Where a job code of schemas.errors says it, that code is used;
# these say more about the provider, and workers.execution maps each to the job code a caller sees.
INVALID_REQUEST = ErrorCode.INVALID_REQUEST.value
RATE_LIMITED = ErrorCode.RATE_LIMITED.value
UPSTREAM_ERROR = ErrorCode.UPSTREAM_ERROR.value
UPSTREAM_TIMEOUT = ErrorCode.UPSTREAM_TIMEOUT.value
# Not the job code payload_too_large (our own 413): the provider found the prompt too large.
PAYLOAD_TOO_LARGE = "upstream_payload_too_large"
# Not the job code unavailable (our queue, a 503): the provider is overloaded or unreachable.
UPSTREAM_UNAVAILABLE = "upstream_unavailable"
QUOTA_EXHAUSTED = "quota_exhausted"
UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
CONTENT_BLOCKED = "content_blocked"
PROTOCOL_ERROR = "upstream_protocol_error"
ANSWER_TOO_LARGE = "upstream_answer_too_large"
# Not the job code model_not_found (a model our catalogue does not list, a 404): the provider does not serve a
# model the catalogue lists, an operator's problem (a wrong upstream name, a retired model), so a 502.
UPSTREAM_NOT_FOUND = "upstream_not_found"

# Provider bodies are kept for diagnosis, but a misbehaving upstream must not fill memory or logs.
PROVIDER_BODY_CHARS_MAX = 4096
# A provider's error message travels to the caller and the book; an HTML page of 1 MB must not.
ERROR_MESSAGE_CHARS_MAX = 1000
# A retry hint beyond this is treated as "not soon": the pool decides, but never waits a day on a header.
RETRY_AFTER_S_MAX = 3600.0

GOOGLE_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """What an adapter read from a provider's error response."""

    status: int
    message: str
    provider_code: str | None = None
    quota_exhausted: bool = False
    key_invalid: bool = False
    retry_after_s: float | None = None
    body: str | None = None


def error_for_status(error: UpstreamError) -> ProviderError:
    """The one mapping from an upstream error response to a ProviderError."""
    cls, retriable, code = _classify(error)
    message = safe_message(error.message)
    detail = f"{message} [provider code {safe_message(error.provider_code)}]" if error.provider_code else message
    if cls is ProviderProtocolError:
        detail = f"unexpected HTTP status {error.status}: {detail}"
    # An exhausted quota does not lift by waiting, so a retry hint would only mislead the pool.
    retry_after_s = error.retry_after_s if retriable else None
    return cls(
        detail,
        retriable=retriable,
        status=error.status,
        code=code,
        retry_after_s=retry_after_s,
        provider_body=None if error.body is None else error.body[:PROVIDER_BODY_CHARS_MAX],
    )


def _classify(error: UpstreamError) -> tuple[type[ProviderError], bool, str]:
    status = error.status
    if error.key_invalid or status in {401, 403}:
        return ProviderAuthFailed, False, UPSTREAM_AUTH_FAILED
    if status == 429 and not error.quota_exhausted:
        return ProviderRateLimited, True, RATE_LIMITED
    if status in {402, 429}:
        return ProviderRateLimited, False, QUOTA_EXHAUSTED
    if status in {408, 504}:
        return ProviderTimeout, True, UPSTREAM_TIMEOUT
    if status in {503, 529}:
        return ProviderUnavailable, True, UPSTREAM_UNAVAILABLE
    if status == 409 or 500 <= status <= 599:
        return ProviderUnavailable, True, UPSTREAM_ERROR
    if status == 404:
        return ProviderUnavailable, False, UPSTREAM_NOT_FOUND
    if status == 413:
        return ProviderRejected, False, PAYLOAD_TOO_LARGE
    if 400 <= status <= 499:
        return ProviderRejected, False, INVALID_REQUEST
    return ProviderProtocolError, True, PROTOCOL_ERROR


def retry_after_from_headers(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date; None if absent."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return _bounded(float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _bounded(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _bounded((when - (now or datetime.now(UTC))).total_seconds())


def seconds_from_google_duration(value: object) -> float | None:
    """Seconds in a google.protobuf.Duration JSON string such as "30s" or "1.5s"; None if not one."""
    if not isinstance(value, str):
        return None
    found = GOOGLE_DURATION.match(value)
    return None if found is None else _bounded(float(found.group(1)))


def _bounded(seconds: float) -> float | None:
    if seconds != seconds:  # NaN from a float("nan") header
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_S_MAX)


def transport_failure(exc: httpx.HTTPError, provider: str, timeout_s: float) -> ProviderError:
    """A timeout or connection failure before a full response arrived."""
    if _timed_out(exc):
        return timeout_failure(provider, timeout_s, detail=type(exc).__name__)
    cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    return ProviderUnavailable(
        safe_message(f"{provider}: connection failed ({type(cause).__name__}: {cause})"),
        retriable=True,
        code=UPSTREAM_UNAVAILABLE,
    )


def _timed_out(exc: httpx.HTTPError) -> bool:
    """Whether the provider was too slow, as opposed to unreachable (refused, reset, closed early).

    httpx-aiohttp maps every aiohttp connection error to httpx.ConnectTimeout, a refused connection included,
    so the aiohttp error underneath decides: only one that is itself a timeout is a timeout.
    """
    if not isinstance(exc, httpx.TimeoutException):
        return False
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, asyncio.TimeoutError)
    return True


def safe_message(text: str) -> str:
    """A provider's text made fit to travel: NUL replaced (PostgreSQL text cannot hold it), length bounded."""
    bounded = text if len(text) <= ERROR_MESSAGE_CHARS_MAX else text[:ERROR_MESSAGE_CHARS_MAX] + "..."
    return bounded.replace("\x00", REPLACEMENT_CHARACTER)


def answer_too_large(provider: str, limit_bytes: int) -> ProviderProtocolError:
    """An answer over the limit: not delivered (the usage event could not carry it), and not worth paying for again."""
    return ProviderProtocolError(
        f"{provider}: the answer is larger than {limit_bytes} bytes, the most the gateway delivers",
        retriable=False,
        code=ANSWER_TOO_LARGE,
    )


def timeout_failure(provider: str, timeout_s: float, detail: str = "deadline") -> ProviderTimeout:
    return ProviderTimeout(
        f"{provider}: no answer within {timeout_s:g}s ({detail})", retriable=True, code=UPSTREAM_TIMEOUT
    )


def protocol_failure(provider: str, problem: str, response: httpx.Response) -> ProviderProtocolError:
    """A 2xx answer that is not the provider's wire format; retriable once by the pool."""
    return ProviderProtocolError(
        safe_message(f"{provider}: {problem}"),
        retriable=True,
        status=response.status_code,
        code=PROTOCOL_ERROR,
        provider_body=response.text[:PROVIDER_BODY_CHARS_MAX],
    )


def rejected_before_sending(provider: str, problem: str) -> ProviderRejected:
    """A call the adapter refuses to send because the provider is certain to reject it."""
    return ProviderRejected(f"{provider}: {problem}", retriable=False, code=INVALID_REQUEST)
