"""Reads the events the ledger consumes and refuses, one event at a time, what money must not touch.

Decoding is strict about what this version understands: a known type at a schema version it does not know
is refused (a version bump means a change an older reader could misread), while unknown fields are ignored
(additive changes need no bump). Everything the book stores or prices is checked here, so a refusal names
its cause instead of surfacing later as a database error for a whole batch.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError

from ledger.refusals import Refused
from schemas.catalogue import Catalogue
from schemas.errors import ErrorCode
from schemas.events import ChatJobSubmitted, Envelope, UsageRecorded, decode

E = TypeVar("E", bound=Envelope)

# PostgreSQL's bigint: a count or amount outside it cannot be stored.
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1


def submitted(payload: bytes | None, catalogue: Catalogue) -> ChatJobSubmitted:
    job = _read(ChatJobSubmitted, payload, ErrorCode.INVALID_REQUEST)
    missing = [model_id for model_id in (job.model_id, *job.route) if catalogue.resolve(model_id) is None]
    if missing:
        raise Refused(ErrorCode.MODEL_NOT_FOUND, f"model {missing[0]!r} is no longer in the catalogue")
    _check_texts(
        ErrorCode.INVALID_REQUEST,
        "the job",
        job.workspace_id,
        job.job_id,
        job.api_key_id,
        job.model_id,
        *job.route,
        *job.params.tags,
    )
    _check_counts(ErrorCode.INVALID_REQUEST, "the job", job.input_tokens_estimate, job.params.max_tokens)
    return job


def usage(payload: bytes | None, catalogue: Catalogue) -> UsageRecorded:
    report = _read(UsageRecorded, payload, ErrorCode.UPSTREAM_ERROR)
    if report.outcome == "completed" and report.model_id is not None and catalogue.resolve(report.model_id) is None:
        raise Refused(
            ErrorCode.MODEL_NOT_FOUND,
            f"model {report.model_id!r} left the catalogue while the job ran; the hold was released, nothing charged",
        )
    error_texts = (report.error.code, report.error.message) if report.error is not None else ()
    _check_texts(
        ErrorCode.UPSTREAM_ERROR,
        "the provider's answer",
        report.workspace_id,
        report.job_id,
        report.model_id,
        report.provider,
        report.answer,
        report.finish_reason,
        report.system_fingerprint,
        *error_texts,
    )
    _check_counts(
        ErrorCode.UPSTREAM_ERROR,
        "the provider's usage",
        report.input_tokens,
        report.output_tokens,
        report.cached_input_tokens,
        report.reasoning_tokens,
    )
    if report.first_token_ms is not None and not 0 <= report.first_token_ms <= INTEGER_MAX:
        raise Refused(ErrorCode.UPSTREAM_ERROR, "the usage carries an impossible time to first token")
    return report


def _read(event_type: type[E], payload: bytes | None, code: ErrorCode) -> E:
    if not payload:
        raise Refused(code, "the event is empty")
    try:
        # The event pins its type and version (Literal fields): an event that validates is of the known type at the
        # known version (or names neither). The payload is parsed once; only a refused one is looked at again.
        return decode(event_type, payload)
    except ValidationError as error:
        raise _refusal(event_type, payload, code, error) from error


def _refusal(event_type: type[E], payload: bytes, code: ErrorCode, error: ValidationError) -> Refused:
    """Why an event that did not validate is refused: not JSON, not an object, another type, a version this ledger
    does not read (retriable once it is upgraded), or invalid fields."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Refused(code, "the event is not JSON")
    if not isinstance(document, dict):
        return Refused(code, "the event is not a JSON object")
    known_type = event_type.model_fields["type"].default
    known_version = event_type.model_fields["version"].default
    if document.get("type", known_type) != known_type:
        return Refused(code, f"the event is of type {str(document.get('type'))[:64]!r}, not {known_type!r}")
    version = document.get("version", known_version)
    if version != known_version:
        return Refused(
            ErrorCode.INTERNAL,
            f"this ledger reads {known_type} version {known_version}, not {str(version)[:16]}; "
            "nothing was charged, retry once every ledger is upgraded",
        )
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors()[:3])
    return Refused(code, f"the event is invalid ({fields})")


def _check_texts(code: ErrorCode, what: str, *texts: str | None) -> None:
    if any(text is not None and "\x00" in text for text in texts):
        raise Refused(code, f"{what} contains a NUL character, which the book cannot store; nothing was charged")


def _check_counts(code: ErrorCode, what: str, *counts: int) -> None:
    if any(count < 0 or count > BIGINT_MAX for count in counts):
        raise Refused(code, f"{what} carries an impossible token count; nothing was charged")
