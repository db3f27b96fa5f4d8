"""One batch input line (OpenAI's batch line format) into the job it becomes, or the reason it is refused.

A line is `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": <chat request>}`; the body is
validated exactly as `POST /api/v1/openai/chat/completions` validates one (same shapes, same message limit, same
key policy, same event size), so a line the batch accepts is a request that route would have accepted.
Splitting a stream into lines (and refusing oversized ones) is `ingress/batch_stream.py`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ingress import openai_shapes, submission
from ingress.key_policy import Principal
from ingress.parsing import check_message_count
from schemas.api import refuse_control_characters
from schemas.batches import batch_job_id
from schemas.catalogue import Catalogue
from schemas.errors import LuntrexError
from schemas.events import ChatJobSubmitted

# OpenAI's own path, and ours (the native API's chat route), both name the one endpoint batches run.
CHAT_URLS = frozenset({"/v1/chat/completions", "/api/v1/chat/completions", "/chat/completions"})
CUSTOM_ID_MAX_CHARS = 512


class LineRefused(Exception):
    """A line the batch cannot run: its number, a stable code and a message naming the field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A good line: its number, its `custom_id` and the job the ledger will admit when the feeder releases it."""

    line_no: int
    custom_id: str
    job: ChatJobSubmitted
    pool: str


@dataclass(frozen=True, slots=True)
class LineContext:
    """What every line of one batch shares."""

    batch_id: str
    principal: Principal
    catalogue: Catalogue
    deadline_at: datetime
    messages_max: int
    event_max_bytes: int


def job_id_for(batch_id: str, line_no: int) -> str:
    """A line's job id, derived from the batch: a line becomes at most one job, whatever is replayed."""
    return batch_job_id(batch_id, line_no)


def job_prefix(batch_id: str) -> str:
    """The LIKE pattern matching every job of a batch (`_` escaped)."""
    return f"bj\\_{batch_id.removeprefix('batch_')}\\_%"


def parse_line(raw_line: bytes, line_no: int, context: LineContext) -> BatchJob:
    """The job a line becomes, or `LineRefused`."""
    try:
        document = orjson.loads(raw_line)
    except orjson.JSONDecodeError as error:
        raise LineRefused("invalid_json", f"the line is not valid JSON: {error}") from error
    return parse_document(document, line_no, context, line_bytes=len(raw_line))


def parse_document(document: Any, line_no: int, context: LineContext, *, line_bytes: int | None = None) -> BatchJob:
    if not isinstance(document, dict):
        raise LineRefused("invalid_request", "the line must be a JSON object")
    unknown = sorted(set(document) - {"custom_id", "method", "url", "body"})
    if unknown:
        raise LineRefused("invalid_request", f"unknown field '{unknown[0][:64]}'")
    custom_id = _custom_id(document.get("custom_id"))
    if document.get("method", "POST") != "POST":
        raise LineRefused("invalid_request", "'method' must be POST")
    if document.get("url") not in CHAT_URLS:
        raise LineRefused("invalid_request", "'url' must be /v1/chat/completions")
    body = document.get("body")
    if not isinstance(body, dict):
        raise LineRefused("invalid_request", "'body' must be a JSON object (a chat completion request)")
    try:
        check_message_count(body, context.messages_max)
        request = openai_shapes.to_chat_request(body)
        job = submission.build_job(
            request,
            context.principal,
            context.catalogue,
            job_id=job_id_for(context.batch_id, line_no),
            deadline_at=context.deadline_at,
            lane="batch",
        )
        # Encoding a job to measure it costs as much as parsing it: only a line long enough to matter is measured.
        if line_bytes is None or submission.may_exceed(line_bytes, context.event_max_bytes):
            submission.check_event_size(job, context.event_max_bytes)
    except LuntrexError as error:
        raise LineRefused(error.code.value, f"body: {error.message}") from error
    model = context.catalogue.resolve(job.model_id)
    assert model is not None, "build_job resolved the model"
    return BatchJob(line_no=line_no, custom_id=custom_id, job=job, pool=model.pool)


def _custom_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise LineRefused("invalid_request", "'custom_id' is required: a non-empty string")
    if len(value) > CUSTOM_ID_MAX_CHARS:
        raise LineRefused("invalid_request", f"'custom_id' is longer than {CUSTOM_ID_MAX_CHARS} characters")
    try:
        return refuse_control_characters(value)
    except ValueError as error:
        raise LineRefused("invalid_request", f"'custom_id' {error}") from error
