"""One batch input line (OpenAI's batch line format) into the job it becomes, or the reason it is refused.

A line is `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": <chat request>}`; the body is
validated exactly as `POST /api/v1/openai/chat/completions` validates one (same shapes, same message limit, same
key policy, same event size), so a line the batch accepts is a request that route would have accepted.
Splitting a stream into lines (and refusing oversized ones) is `ingress/batch_stream.py`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingress import batch_fastpath, openai_shapes, submission
from ingress.key_policy import Principal
from ingress.parsing import check_message_count
from schemas import json_integers
from schemas.batches import batch_job_id
from schemas.catalogue import Catalogue
from schemas.errors import LuntrexError
from schemas.text import refuse_control_characters

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
    """A good line: its number, its `custom_id` and the job the ledger will admit when the feeder releases it
    (a `ChatJobSubmitted`, as the JSON stored with the line)."""

    line_no: int
    custom_id: str
    job_id: str
    model_id: str
    pool: str
    job_json: str


@dataclass(frozen=True, slots=True)
class LineContext:
    """What every line of one batch shares; `templates` fills as the batch's lines are read (one per distinct set
    of settings, `ingress/batch_fastpath.py`; None for settings the full path refused)."""

    batch_id: str
    principal: Principal
    catalogue: Catalogue
    deadline_at: datetime
    messages_max: int
    event_max_bytes: int
    templates: dict[batch_fastpath.SettingsKey, batch_fastpath.Template | None] = field(default_factory=dict)


def job_id_for(batch_id: str, line_no: int) -> str:
    """A line's job id, derived from the batch: a line becomes at most one job, whatever is replayed."""
    return batch_job_id(batch_id, line_no)


def job_prefix(batch_id: str) -> str:
    """The LIKE pattern matching every job of a batch (`_` escaped)."""
    return f"bj\\_{batch_id.removeprefix('batch_')}\\_%"


def parse_line(raw_line: bytes, line_no: int, context: LineContext) -> BatchJob:
    """The job a line becomes, or `LineRefused`."""
    document = _loaded(raw_line)
    if context.principal.guardrails is None and batch_fastpath.may_take(len(raw_line), context.event_max_bytes):
        # The fast path takes no float that could be orjson's reading of an integer beyond 64 bits
        # (`batch_fastpath.settings_key`), so only the full path needs the exact parse.
        plain = _plain_line(document, line_no, context)
        if plain is not None:
            return plain
    return parse_document(_exact(raw_line, document), line_no, context, line_bytes=len(raw_line))


def _plain_line(document: Any, line_no: int, context: LineContext) -> BatchJob | None:
    """The job of a plain line from its settings' template (`ingress/batch_fastpath.py`), or None: the line then
    takes the full path, which says what is wrong with it, if anything."""
    if type(document) is not dict or not document.keys() <= batch_fastpath.LINE_FIELDS:
        return None
    if document.get("method", "POST") != "POST" or document.get("url") not in CHAT_URLS:
        return None
    custom_id = document.get("custom_id")
    body = document.get("body")
    if type(custom_id) is not str or type(body) is not dict or not 0 < len(custom_id) <= CUSTOM_ID_MAX_CHARS:
        return None
    try:
        refuse_control_characters(custom_id)
    except ValueError:
        return None
    key = batch_fastpath.settings_key(body)
    messages = batch_fastpath.messages_of(body, context.messages_max) if key is not None else None
    if key is None or messages is None:
        return None
    if key not in context.templates:
        context.templates[key] = _template({name: value for name, _, value in key}, context)
    template = context.templates[key]
    if template is None:
        return None
    job_id = job_id_for(context.batch_id, line_no)
    # Unique within the batch by its line, across batches by 96 random bits of the batch id.
    event_id = f"{context.batch_id.removeprefix('batch_')[:24]}{line_no:08x}"
    stored = batch_fastpath.stored_job(template, messages, job_id=job_id, event_id=event_id)
    if stored is None:
        return None
    return BatchJob(line_no, custom_id, job_id, str(template.job["model_id"]), template.pool, stored.decode())


def _template(settings: dict[str, Any], context: LineContext) -> batch_fastpath.Template | None:
    """What the full path makes of these settings with a one-message probe; None if it refuses them."""
    body = {**settings, "messages": [dict(message) for message in batch_fastpath.PROBE_MESSAGES]}
    try:
        built = parse_document({"custom_id": "probe", "url": "/v1/chat/completions", "body": body}, 1, context)
    except LineRefused:
        return None
    return batch_fastpath.template_of(built.job_json, built.pool, context.catalogue)


def load_line(raw_line: bytes) -> Any:
    """A line's JSON document as the full path reads it (`parse_document`), or `LineRefused`."""
    return _exact(raw_line, _loaded(raw_line))


def _loaded(raw_line: bytes) -> Any:
    try:
        return orjson.loads(raw_line)
    except orjson.JSONDecodeError as error:
        if (wide := json_integers.wide_integer_refused(raw_line)) is not None:
            # orjson calls a line with an integer too long for a double invalid; it is refused by its field, as
            # `parse_document` refuses any integer beyond 64 bits.
            raise LineRefused("invalid_request", str(wide)) from error
        raise LineRefused("invalid_json", f"the line is not valid JSON: {error}") from error


def _exact(raw_line: bytes, document: Any) -> Any:
    """orjson reads an integer beyond 64 bits as a float, so a line that may hold one is parsed again exactly:
    such an integer is kept (a `json_integers.WideInteger`) for `parse_document` to refuse."""
    if not json_integers.may_hold_wide_integer(document):
        return document
    try:
        return json_integers.loads_exact(raw_line)
    except ValueError as error:
        raise LineRefused("invalid_request", str(error)) from error


def parse_document(document: Any, line_no: int, context: LineContext, *, line_bytes: int | None = None) -> BatchJob:
    if not isinstance(document, dict):
        raise LineRefused("invalid_request", "the line must be a JSON object")
    # A JSON-array batch's lines, and JSONL lines orjson may have read an integer of as a float, come parsed
    # exactly: refuse what no later hop could carry exactly.
    wide = json_integers.find_wide_integer(document)
    if wide is not None:
        raise LineRefused("invalid_request", str(wide))
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
    return BatchJob(line_no, custom_id, job.job_id, job.model_id, model.pool, job.model_dump_json())


def _custom_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise LineRefused("invalid_request", "'custom_id' is required: a non-empty string")
    if len(value) > CUSTOM_ID_MAX_CHARS:
        raise LineRefused("invalid_request", f"'custom_id' is longer than {CUSTOM_ID_MAX_CHARS} characters")
    try:
        return refuse_control_characters(value)
    except ValueError as error:
        raise LineRefused("invalid_request", f"'custom_id' {error}") from error
