"""Error codes of the public API and the exception tree that carries them.

Every expected failure is a ``LuntrexError`` with a stable ``code``, the HTTP ``status`` it maps to and
whether a client may retry. The HTTP boundary translates them once into the API's error shape
``{"error": message, "status": N, "code": ..., "request_id": ...}``.

    LuntrexError
    ├── InvalidRequest          400 invalid_request / guardrail_blocked
    ├── Unauthenticated         401 invalid_api_key
    ├── Forbidden               403 insufficient_scope / key_restricted / admin_only / workspace_suspended
    ├── NotFound                404 not_found / model_not_found
    ├── IdempotencyConflict     409 idempotency_conflict
    ├── Conflict                409 conflict / key_already_rotated
    ├── PayloadTooLarge         413 payload_too_large
    ├── TooManyRequests         429 key_mints_exceeded
    └── ServiceUnavailable      503 unavailable

A job that ends badly after it was accepted (refused credit, over its key's or workspace's limits
(`rate_limit_exceeded` 429, `spend_cap_reached` 403), rate limited by a provider (`rate_limited`), provider
failure, expiry) carries its code in the `JobFinished` event; `STATUS_BY_CODE` below gives the status callers
see for it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    HEADERS_TOO_LARGE = "headers_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UNAVAILABLE = "unavailable"
    EXPIRED = "expired"
    INTERNAL = "internal_error"
    # Keys and workspaces (issue 8).
    INSUFFICIENT_SCOPE = "insufficient_scope"
    KEY_RESTRICTED = "key_restricted"
    ADMIN_ONLY = "admin_only"
    WORKSPACE_SUSPENDED = "workspace_suspended"
    KEY_ALREADY_ROTATED = "key_already_rotated"
    CONFLICT = "conflict"
    KEY_MINTS_EXCEEDED = "key_mints_exceeded"
    # Admission limits (ledger/limits.py): the caller's own RPM/TPM limits, not a provider's (`rate_limited`).
    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
    SPEND_CAP_REACHED = "spend_cap_reached"
    # A workspace guardrail refused the request (or withheld the answer); the message names the rule.
    GUARDRAIL_BLOCKED = "guardrail_blocked"
    # The OpenAI surface's wait ended before the job did (the job runs on and is billed once; poll its id).
    WAIT_LIMIT_REACHED = "wait_limit_reached"


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


class Forbidden(LuntrexError):
    """The caller is known but may not do this: a missing scope, a key's own limits, an admin-only route."""

    status = 403
    code = ErrorCode.INSUFFICIENT_SCOPE


class NotFound(LuntrexError):
    status = 404
    code = ErrorCode.NOT_FOUND


class IdempotencyConflict(LuntrexError):
    status = 409
    code = ErrorCode.IDEMPOTENCY_CONFLICT


class Conflict(LuntrexError):
    status = 409
    code = ErrorCode.CONFLICT


class TooManyRequests(LuntrexError):
    status = 429
    code = ErrorCode.KEY_MINTS_EXCEEDED
    retriable = True


class PayloadTooLarge(LuntrexError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class ServiceUnavailable(LuntrexError):
    status = 503
    code = ErrorCode.UNAVAILABLE
    retriable = True


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """What a code means to a caller: the HTTP status, whether retrying can help, and whether anything was charged."""

    status: int
    retriable: bool
    charged: bool = False


# The one error-code table, from provider adapters and the ledger to the HTTP boundary. A job that ends with
# one of these codes reaches its caller with this status; nothing else re-declares a status.
ERRORS: dict[ErrorCode, ErrorSpec] = {
    ErrorCode.INVALID_REQUEST: ErrorSpec(400, retriable=False),
    ErrorCode.INVALID_JSON: ErrorSpec(400, retriable=False),
    ErrorCode.INVALID_API_KEY: ErrorSpec(401, retriable=False),
    ErrorCode.INSUFFICIENT_CREDITS: ErrorSpec(403, retriable=False),
    ErrorCode.NOT_FOUND: ErrorSpec(404, retriable=False),
    ErrorCode.MODEL_NOT_FOUND: ErrorSpec(404, retriable=False),
    ErrorCode.IDEMPOTENCY_CONFLICT: ErrorSpec(409, retriable=False),
    ErrorCode.PAYLOAD_TOO_LARGE: ErrorSpec(413, retriable=False),
    # Refused at the HTTP door (ingress/door.py, ingress/server.py) before any route runs.
    ErrorCode.HEADERS_TOO_LARGE: ErrorSpec(431, retriable=False),
    ErrorCode.REQUEST_TIMEOUT: ErrorSpec(408, retriable=True),
    ErrorCode.RATE_LIMITED: ErrorSpec(429, retriable=True),
    ErrorCode.INTERNAL: ErrorSpec(500, retriable=True),
    ErrorCode.UPSTREAM_ERROR: ErrorSpec(502, retriable=True),
    ErrorCode.UNAVAILABLE: ErrorSpec(503, retriable=True),
    ErrorCode.EXPIRED: ErrorSpec(504, retriable=True),
    ErrorCode.UPSTREAM_TIMEOUT: ErrorSpec(504, retriable=True),
    ErrorCode.INSUFFICIENT_SCOPE: ErrorSpec(403, retriable=False),
    ErrorCode.KEY_RESTRICTED: ErrorSpec(403, retriable=False),
    ErrorCode.ADMIN_ONLY: ErrorSpec(403, retriable=False),
    ErrorCode.WORKSPACE_SUSPENDED: ErrorSpec(403, retriable=False),
    ErrorCode.KEY_ALREADY_ROTATED: ErrorSpec(409, retriable=False),
    ErrorCode.CONFLICT: ErrorSpec(409, retriable=False),
    ErrorCode.KEY_MINTS_EXCEEDED: ErrorSpec(429, retriable=True),
    # A key's or workspace's requests/tokens per minute; the job carries retry_after_s to the window's end.
    ErrorCode.RATE_LIMIT_EXCEEDED: ErrorSpec(429, retriable=True),
    ErrorCode.SPEND_CAP_REACHED: ErrorSpec(403, retriable=False),
    ErrorCode.GUARDRAIL_BLOCKED: ErrorSpec(400, retriable=False),
    ErrorCode.WAIT_LIMIT_REACHED: ErrorSpec(408, retriable=True),
}


def spec_of(code: str) -> ErrorSpec:
    """The spec of a code carried by an event; a code this version does not know is an upstream error."""
    try:
        return ERRORS[ErrorCode(code)]
    except ValueError:
        return ERRORS[ErrorCode.UPSTREAM_ERROR]


# Kept for readers of the status alone.
STATUS_BY_CODE: dict[str, int] = {code: spec.status for code, spec in ERRORS.items()}
