"""Renders batches and their result lines: the native shapes and OpenAI's (batch object, output-file lines)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ingress import openai_shapes
from ledger.batch_queries import BatchView, LineResult
from schemas.api import Usage
from schemas.batches import (
    Batch,
    BatchCounts,
    LineError,
    OpenAIBatch,
    OpenAIBatchErrors,
    OpenAIBatchUsage,
    OpenAIRequestCounts,
)
from schemas.errors import spec_of

_OPENAI_STATUS = {
    "in_progress": "in_progress",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
    "completed": "completed",
    "expired": "expired",
}
# Lines that never ran, as OpenAI's error file names them.
_UNRUN_CODES = {"cancelled": "batch_cancelled", "expired": "batch_expired"}


def window_text(seconds: int) -> str:
    """The completion window as OpenAI writes it: whole hours as hours (`24h`, never `1d`), else minutes, else
    seconds. Only the seconds are stored; both the native and the OpenAI batch objects report this text."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def batch(view: BatchView) -> Batch:
    row = view.row
    return Batch(
        id=row.id,
        status=view.status,
        endpoint=row.endpoint,
        completion_window=window_text(row.completion_window_s),
        created_at=int(row.created_at.timestamp()),
        expires_at=int(row.expires_at.timestamp()),
        finished_at=_epoch(row.finished_at),
        cancel_requested_at=_epoch(row.cancel_requested_at),
        counts=BatchCounts(**view.counts),
        invalid_lines=row.invalid_lines,
        errors=[LineError(**error) for error in row.errors],
        results_expire_at=_epoch(view.results_expire_at),
        cost_tokens=view.cost_tokens,
        usage=Usage(input_tokens=view.input_tokens, output_tokens=view.output_tokens),
        metadata=row.metadata,
        results_url=f"/api/v1/batches/{row.id}/results",
    )


def result_line(line: LineResult) -> bytes:
    """One native result line: `custom_id` -> answer or error, with usage and cost."""
    body: dict[str, Any] = {
        "custom_id": line.custom_id,
        "line": line.line_no,
        "job_id": line.job_id,
        "status": line.state,
    }
    finished = line.result
    if finished is None:
        body |= {
            "model": line.model_id,
            "answer": None,
            "finish_reason": None,
            "usage": None,
            "cost_tokens": 0,
            "error": {
                "code": _UNRUN_CODES[line.state],
                "message": f"the batch was {line.state} before this line ran; nothing was charged",
            },
        }
    else:
        body |= {
            "model": finished.model_id,
            "answer": finished.answer,
            "finish_reason": finished.finish_reason,
            "usage": finished.usage_counts(),
            "cost_tokens": finished.cost_tokens,
            "error": finished.error.model_dump() if finished.error is not None else None,
        }
        # As the sync answer has them: additive, only when the answer has more than `answer` says.
        if finished.choices:
            first_calls = finished.choices[0].tool_calls
            if first_calls:
                body["tool_calls"] = [call.model_dump(mode="json") for call in first_calls]
            body["choices"] = [choice.model_dump(mode="json") for choice in finished.choices]
    return orjson.dumps(body) + b"\n"


def openai_batch(view: BatchView, *, input_file_id: str) -> OpenAIBatch:
    row = view.row
    counts = view.counts
    status = _OPENAI_STATUS[view.status]
    done = counts["completed"]
    failed = counts["failed"] + counts["cancelled"] + counts["expired"]
    finished = row.finished_at
    ended = finished is not None
    return OpenAIBatch(
        id=row.id,
        endpoint=row.endpoint,
        errors=OpenAIBatchErrors(
            data=[{**error, "param": openai_shapes.param_named(str(error.get("message", "")))} for error in row.errors]
        )
        if row.errors
        else None,
        input_file_id=input_file_id,
        completion_window=window_text(row.completion_window_s),
        status=status,
        output_file_id=f"file-out-{row.id}" if ended and done else None,
        error_file_id=f"file-err-{row.id}" if ended and failed else None,
        created_at=int(row.created_at.timestamp()),
        in_progress_at=int(row.created_at.timestamp()),
        expires_at=int(row.expires_at.timestamp()),
        finalizing_at=_epoch(finished) if status == "completed" else None,
        completed_at=_epoch(finished) if status == "completed" else None,
        expired_at=_epoch(finished) if status == "expired" else None,
        cancelling_at=_epoch(row.cancel_requested_at),
        cancelled_at=_epoch(finished) if status == "cancelled" else None,
        request_counts=OpenAIRequestCounts(total=counts["total"], completed=done, failed=failed),
        usage=OpenAIBatchUsage(
            input_tokens=view.input_tokens,
            output_tokens=view.output_tokens,
            total_tokens=view.input_tokens + view.output_tokens,
        ),
        metadata=row.metadata,
    )


def openai_output_line(line: LineResult) -> bytes:
    """One line of OpenAI's batch output (or error) file."""
    finished = line.result
    request_id = f"req_{line.job_id}"
    body: dict[str, Any] = {"id": f"batch_req_{line.job_id}", "custom_id": line.custom_id}
    if finished is None:
        code = _UNRUN_CODES[line.state]
        body |= {
            "response": None,
            "error": {"code": code, "message": f"the batch was {line.state} before this request ran"},
        }
    elif finished.status == "completed":
        # Created when the job finished, not when the file is read: a file reads the same every time.
        created = int(line.finished_at.timestamp()) if line.finished_at is not None else None
        completion = openai_shapes.chat_completion(finished, created=created)
        body |= {"response": {"status_code": 200, "request_id": request_id, "body": completion}, "error": None}
    else:
        error = finished.error
        code = error.code if error is not None else "internal_error"
        message = error.message if error is not None else "the request failed"
        status = spec_of(code).status
        body |= {
            "response": {
                "status_code": status,
                "request_id": request_id,
                "body": openai_shapes.error_body(message, status, code, request_id),
            },
            "error": None,
        }
    return orjson.dumps(body) + b"\n"
