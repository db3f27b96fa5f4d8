"""Stores a batch: its lines parsed as they stream in and written by one PostgreSQL COPY, in one transaction.

Memory is bounded whatever the batch's size: one line is buffered at a time, good lines go straight into the
COPY stream, and only the first `errors_max` bad lines are described (all are counted). Duplicate `custom_id`s
are found by PostgreSQL after the COPY (a window over the batch's lines), so no set of ids grows in memory:
the first occurrence is kept, every later one is a bad line. With `all_or_nothing`, one bad line refuses the
batch and nothing is stored (the transaction rolls back).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingress import dated_ids
from ingress.batch_lines import LineContext, LineRefused, parse_document, parse_line
from ingress.batch_stream import OVERSIZED
from ingress.key_policy import Principal
from schemas.batches import EXPIRES_AFTER_MAX_S, EXPIRES_AFTER_MIN_S
from schemas.catalogue import Catalogue
from schemas.errors import InvalidRequest

BATCH_PREFIX = "batch_"

_WINDOW = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

_INSERT_BATCH = text(
    """
    INSERT INTO batches (id, workspace_id, api_key_id, endpoint, input_file_id, completion_window_s, metadata,
                         created_at, expires_at, output_expires_after_s)
    VALUES (:id, :ws, :key, :endpoint, :file, :window_s, CAST(:metadata AS jsonb), :created_at, :expires_at,
            :output_expires_after_s)
    """
)
_DUPLICATES = text(
    """
    SELECT line_no, custom_id FROM (
        SELECT line_no, custom_id, row_number() OVER (PARTITION BY custom_id ORDER BY line_no) AS seen
        FROM batch_lines WHERE batch_id = :b) AS lines
    WHERE seen > 1 ORDER BY line_no LIMIT :limit
    """
)
_DELETE_DUPLICATES = text(
    """
    DELETE FROM batch_lines l USING (
        SELECT line_no FROM (
            SELECT line_no, row_number() OVER (PARTITION BY custom_id ORDER BY line_no) AS seen
            FROM batch_lines WHERE batch_id = :b) AS lines
        WHERE seen > 1) AS d
    WHERE l.batch_id = :b AND l.line_no = d.line_no
    """
)
_FINISH = text(
    "UPDATE batches SET total_lines = :total, invalid_lines = :invalid, errors = CAST(:errors AS jsonb) WHERE id = :b"
)
_COPY = "COPY batch_lines (batch_id, line_no, custom_id, job_id, model_id, pool, job) FROM STDIN"


@dataclass(frozen=True, slots=True)
class BatchOptions:
    endpoint: str
    completion_window_s: int
    metadata: dict[str, str] | None = None
    all_or_nothing: bool = False
    input_file_id: str | None = None
    # Its results are deleted this long after it ends, when sooner than the retention (None: the retention).
    output_expires_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class IngestLimits:
    lines_max: int
    errors_max: int
    messages_max: int
    event_max_bytes: int


@dataclass(slots=True)
class Ingested:
    """What was stored: the batch id, its good lines and its bad ones (the first `errors_max` described)."""

    batch_id: str
    created_at: datetime
    expires_at: datetime
    total_lines: int = 0
    invalid_lines: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class BatchRefused(InvalidRequest):
    """The batch as a whole was refused (all-or-nothing with bad lines, no good line, too many lines)."""

    def __init__(self, message: str, errors: list[dict[str, Any]], invalid_lines: int) -> None:
        super().__init__(message)
        self.errors = errors
        self.invalid_lines = invalid_lines

    @property
    def body_extra(self) -> dict[str, Any]:
        """Beside the error shape's fields (ingress/errors.py): the bad lines, by number."""
        return {"invalid_lines": self.invalid_lines, "errors": self.errors}


def new_batch_id(created_at: datetime) -> str:
    """A batch's id, carrying its creation time (ingress/dated_ids.py): `batches.list(after=)` pages past it even
    once the results' retention removed the batch."""
    return dated_ids.new_id(BATCH_PREFIX, created_at)


def completion_window_s(window: str, *, max_s: int) -> int:
    """`24h`, `90m`, `2d`...: seconds, at least one second and at most `max_s`."""
    found = _WINDOW.match(window)
    if found is None:
        raise InvalidRequest("'completion_window' must be a number and a unit (s, m, h, d), like 24h")
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)]
    if seconds > max_s:
        raise InvalidRequest(f"'completion_window' must be at most {max_s // 3600}h")
    return seconds


def results_expire_after_s(text: str) -> int:
    """The native `results_expire_after` (`2h`, `7d`...): seconds, within OpenAI's bounds for a batch's output
    (`output_expires_after`: 1 hour to 30 days)."""
    found = _WINDOW.fullmatch(text)
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)] if found is not None else 0
    if not EXPIRES_AFTER_MIN_S <= seconds <= EXPIRES_AFTER_MAX_S:
        raise InvalidRequest("'results_expire_after' must be a number and a unit (s, m, h, d) from 1h to 30d, like 7d")
    return seconds


async def ingest(
    engine: AsyncEngine,
    lines: AsyncIterator[tuple[int, Any]],
    *,
    principal: Principal,
    catalogue: Catalogue,
    options: BatchOptions,
    limits: IngestLimits,
    now: datetime,
) -> Ingested:
    """Parse and store every good line of one batch in one transaction; raises `BatchRefused` (nothing kept)."""
    batch_id = new_batch_id(now)
    result = Ingested(batch_id, now, now + timedelta(seconds=options.completion_window_s))
    context = LineContext(
        batch_id=batch_id,
        principal=principal,
        catalogue=catalogue,
        deadline_at=result.expires_at,
        messages_max=limits.messages_max,
        event_max_bytes=limits.event_max_bytes,
    )
    async with engine.begin() as conn:
        await conn.execute(
            _INSERT_BATCH,
            {
                "id": batch_id,
                "ws": principal.workspace_id,
                "key": principal.key_id,
                "endpoint": options.endpoint,
                "file": options.input_file_id,
                "window_s": options.completion_window_s,
                "metadata": orjson.dumps(options.metadata).decode() if options.metadata is not None else None,
                "created_at": now,
                "expires_at": result.expires_at,
                "output_expires_after_s": options.output_expires_after_s,
            },
        )
        await _copy_lines(conn, lines, context, result, limits)
        await _drop_duplicates(conn, result, limits.errors_max)
        _refuse_if_needed(result, options)
        await conn.execute(
            _FINISH,
            {
                "b": batch_id,
                "total": result.total_lines,
                "invalid": result.invalid_lines,
                "errors": orjson.dumps(result.errors).decode(),
            },
        )
    return result


async def _copy_lines(
    conn: AsyncConnection,
    lines: AsyncIterator[tuple[int, Any]],
    context: LineContext,
    result: Ingested,
    limits: IngestLimits,
) -> None:
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None, "a live connection has a driver connection"
    async with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
        async for line_no, line in lines:
            if result.total_lines >= limits.lines_max:
                raise BatchRefused(f"a batch holds at most {limits.lines_max} lines", result.errors, 0)
            try:
                if line is OVERSIZED:
                    raise LineRefused("line_too_large", "the line is longer than the line limit")
                good = (
                    parse_line(line, line_no, context)
                    if isinstance(line, bytes)
                    else parse_document(line, line_no, context)
                )
            except LineRefused as refused:
                _bad(result, line_no, refused.code, refused.message, limits.errors_max)
                continue
            await copy.write_row(
                (context.batch_id, line_no, good.custom_id, good.job_id, good.model_id, good.pool, good.job_json)
            )
            result.total_lines += 1


async def _drop_duplicates(conn: AsyncConnection, result: Ingested, errors_max: int) -> None:
    duplicates = (await conn.execute(_DUPLICATES, {"b": result.batch_id, "limit": errors_max})).all()
    if not duplicates:
        return
    dropped = (await conn.execute(_DELETE_DUPLICATES, {"b": result.batch_id})).rowcount
    for row in duplicates:
        result.errors.append(
            {
                "line": row.line_no,
                "code": "duplicate_custom_id",
                "message": f"custom_id '{row.custom_id[:64]}' appears on an earlier line",
            }
        )
    result.errors.sort(key=lambda error: int(error["line"]))
    del result.errors[errors_max:]
    result.total_lines -= dropped
    result.invalid_lines += dropped


def _bad(result: Ingested, line_no: int, code: str, message: str, errors_max: int) -> None:
    result.invalid_lines += 1
    if len(result.errors) < errors_max:
        result.errors.append({"line": line_no, "code": code, "message": message})


def _refuse_if_needed(result: Ingested, options: BatchOptions) -> None:
    if options.all_or_nothing and result.invalid_lines:
        raise BatchRefused(
            f"{result.invalid_lines} bad lines and all_or_nothing was asked: nothing was stored",
            result.errors,
            result.invalid_lines,
        )
    if result.total_lines == 0:
        raise BatchRefused("the batch has no valid line: nothing was stored", result.errors, result.invalid_lines)
