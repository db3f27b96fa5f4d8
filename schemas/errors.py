"""Error codes of the public API and the exception tree that carries them.

Every expected failure is a ``LuntrexError`` with a stable ``code``, the HTTP ``status`` it maps to and
whether a client may retry. The HTTP boundary translates them once into the API's error shape
``{"error": message, "status": N, "code": ..., "request_id": ...}``.

    LuntrexError
    ├── InvalidRequest          400 invalid_request
    ├── Unauthenticated         401 invalid_api_key
    ├── NotFound                404 not_found / model_not_found
    ├── IdempotencyConflict     409 idempotency_conflict
    ├── PayloadTooLarge         413 payload_too_large
    └── ServiceUnavailable      503 unavailable

A job that ends badly after it was accepted (refused credit, rate limited, provider failure, expiry) carries
its code in the `JobFinished` event; `STATUS_BY_CODE` below gives the status callers see for it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    INVALID_JSON = "invalid_json"
    INVALID_API_KEY = "invalid_api_key"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    NOT_FOUND = "not_found"
    MODEL_NOT_FOUND = "model_not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UNAVAILABLE = "unavailable"
    EXPIRED = "expired"
    INTERNAL = "internal_error"


class LuntrexError(Exception):
    """An expected failure with a stable code; translated once into the API error shape."""

    status: int = 500
    code: ErrorCode = ErrorCode.INTERNAL
    retriable: bool = False

    def __init__(self, message: str, *, code: ErrorCode | None = None, retry_after_s: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after_s = retry_after_s


class InvalidRequest(LuntrexError):
    status = 400
    code = ErrorCode.INVALID_REQUEST


class Unauthenticated(LuntrexError):
    status = 401
    code = ErrorCode.INVALID_API_KEY


class NotFound(LuntrexError):
    status = 404
    code = ErrorCode.NOT_FOUND


class IdempotencyConflict(LuntrexError):
    status = 409
    code = ErrorCode.IDEMPOTENCY_CONFLICT


class PayloadTooLarge(LuntrexError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class ServiceUnavailable(LuntrexError):
    status = 503
    code = ErrorCode.UNAVAILABLE
    retriable = True


# The status a terminal job error maps to when it reaches a caller (codes produced by workers and ledger).
STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INSUFFICIENT_CREDITS: 403,
    ErrorCode.MODEL_NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UPSTREAM_TIMEOUT: 504,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.EXPIRED: 504,
    ErrorCode.INTERNAL: 500,
}
