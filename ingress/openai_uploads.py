"""`files.create`'s body (OpenAI's Files API): a multipart form streamed from the request, read and checked field by
field (`purpose`, the file part and its filename, the expiry policy) before a byte of the file is stored.

The form is parsed by Starlette, which spools the file part to disk, so memory holds a chunk at a time whatever the
file's size. A field that would be dropped unseen (a repeated `purpose`, half an expiry policy) is a 400: an upload
is stored as its sender meant it, or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.batches import EXPIRES_AFTER_MAX_S, EXPIRES_AFTER_MIN_S
from schemas.errors import InvalidRequest
from schemas.text import refuse_control_characters

CHUNK_BYTES = 1_048_576

# The body as the OpenAPI document describes it (the route reads it itself, not through a pydantic model).
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "purpose"],
                "properties": {
                    "file": {
                        "type": "string",
                        "contentMediaType": "application/jsonl",
                        "description": "the batch's JSONL file: one OpenAI batch request line per line",
                    },
                    "purpose": {"type": "string", "enum": ["batch"]},
                    "expires_after[anchor]": {"type": "string", "enum": ["created_at"]},
                    "expires_after[seconds]": {
                        "type": "integer",
                        "minimum": EXPIRES_AFTER_MIN_S,
                        "maximum": EXPIRES_AFTER_MAX_S,
                        "description": "the file expires this many seconds after its upload (with its anchor)",
                    },
                },
            },
            "encoding": {"file": {"contentType": "application/jsonl"}},
        }
    },
}


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked upload: its file's bytes (read as they are stored), the name it is listed under, and when it
    expires after its upload (None: kept until deleted)."""

    chunks: AsyncIterator[bytes]
    filename: str
    expires_after_s: int | None


@asynccontextmanager
async def upload(request: Request) -> AsyncIterator[Upload]:
    """The request's upload, checked; its spooled file is closed when the block ends."""
    form = await _form(request)
    try:
        file = form.get("file")
        # The form keeps the last of repeated fields: the others would be dropped unseen.
        if len(form.getlist("purpose")) > 1:
            raise InvalidRequest("'purpose' is given more than once; send it once")
        if form.get("purpose") != "batch":
            raise InvalidRequest("'purpose' must be 'batch': files are stored here only for batches")
        if not isinstance(file, UploadFile):
            raise InvalidRequest("'file' is required: the batch's JSONL file")
        yield Upload(_chunks(file), _filename(file), _expires_after_s(form))
    finally:
        await form.close()


async def _form(request: Request) -> FormData:
    """The upload's form. Starlette answers an unreadable one "Invalid multipart data." whatever the reason; the
    reason is kept, so a filename over the parser's header limit (4 KiB) is told as such. Any other body type reads
    as an empty form, so it is refused as what it is."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise InvalidRequest(
            f"'file': the body must be multipart/form-data (the file and its purpose), not {media_type or 'empty'!r}"
        )
    try:
        return await request.form(max_files=1, max_fields=8)
    except StarletteHTTPException as error:
        reason = error.detail
        multipart = error.__context__
        if multipart is not None and multipart.__cause__ is not None:
            reason = f"{reason.rstrip('.')}: {multipart.__cause__}"
        raise InvalidRequest(
            f"'file': the body is not multipart/form-data this server can read ({reason}); "
            "a part's headers, its filename included, must fit in 4 KiB"
        ) from error


def _expires_after_s(form: FormData) -> int | None:
    """The upload's expiry policy in seconds after its upload, as the `openai` package sends it
    (`expires_after[anchor]`, `expires_after[seconds]` form fields); None when it sends none. Half a policy, or a bad
    one, is a 400: a file its owner asked to expire must never be kept unseen."""
    fields = {name: form.getlist(f"expires_after[{name}]") for name in ("anchor", "seconds")}
    if not any(fields.values()):
        return None
    for name, values in fields.items():
        if len(values) != 1 or not isinstance(values[0], str):
            raise InvalidRequest(f"'expires_after[{name}]' must be given once, with 'expires_after' as a whole")
    anchor, seconds = fields["anchor"][0], str(fields["seconds"][0])
    if anchor != "created_at":
        raise InvalidRequest("'expires_after[anchor]' must be 'created_at'")
    # Digits only (no sign, space or underscore int() would take), and few enough to parse at no cost.
    if not (seconds.isascii() and seconds.isdigit() and len(seconds) <= 9) or not (
        EXPIRES_AFTER_MIN_S <= int(seconds) <= EXPIRES_AFTER_MAX_S
    ):
        raise InvalidRequest(
            f"'expires_after[seconds]' must be a whole number of seconds from {EXPIRES_AFTER_MIN_S} (1 hour) to "
            f"{EXPIRES_AFTER_MAX_S} (30 days)"
        )
    return int(seconds)


def _filename(upload: UploadFile) -> str:
    """The name the file is listed under: printable text only (a NUL cannot even be stored), at most 256 chars."""
    filename = (upload.filename or "input.jsonl")[:256]
    try:
        return refuse_control_characters(filename)
    except ValueError as error:
        raise InvalidRequest(f"'filename' of the file part {error}") from error


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK_BYTES):
        yield chunk
