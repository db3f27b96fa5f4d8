"""Batch API shapes: the native batch object and its counts, and OpenAI's file and batch objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api import Usage
from schemas.text import PRINTABLE

BatchStatus = Literal["in_progress", "cancelling", "cancelled", "completed", "expired"]

# A batch line's job is `bj_<batch hex>_<line>`: derived from the batch, so a line becomes at most one job whatever
# is replayed, and recognisable by its prefix (no caller ever waits on a batch job's `jobs.results` record).
BATCH_JOB_PREFIX = "bj_"


def batch_job_id(batch_id: str, line_no: int) -> str:
    return f"{BATCH_JOB_PREFIX}{batch_id.removeprefix('batch_')}_{line_no}"


def is_batch_job(job_id: str) -> bool:
    return job_id.startswith(BATCH_JOB_PREFIX)


# A batch's `metadata`: OpenAI's bounds (16 pairs, keys of up to 64 characters, values of up to 512), on both
# surfaces. Every read and list page returns it, so unbounded values made a page as large as its batches' labels.
METADATA_PAIRS_MAX = 16
MetadataKey = Annotated[str, Field(max_length=64), PRINTABLE]
MetadataValue = Annotated[str, Field(max_length=512), PRINTABLE]
BatchMetadata = dict[MetadataKey, MetadataValue]


class LineError(BaseModel):
    """A bad input line: its number (from 1), a stable code and what is wrong."""

    line: int
    code: str
    message: str


class BatchCounts(BaseModel):
    """Lines by state. `queued`: not released yet; `waiting_for_credit`: not released, the workspace's credit
    does not cover the next hold; `waiting_for_limit`: not released, a rate limit or spend cap of the batch's key
    or workspace holds it back for now (the batch is throttled, never failed, by its limits); `running`: held and
    dispatched, not settled yet."""

    total: int = 0
    queued: int = 0
    waiting_for_credit: int = 0
    waiting_for_limit: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0


class Batch(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    status: BatchStatus
    endpoint: str
    completion_window: str
    created_at: int
    expires_at: int
    finished_at: int | None = None
    cancel_requested_at: int | None = None
    counts: BatchCounts
    invalid_lines: int
    # The first bad lines of the upload, by line number (all of them are counted in `invalid_lines`).
    errors: list[LineError]
    # When its results are deleted, if it asked for that sooner than the retention (`results_expire_after`) and
    # has ended.
    results_expire_at: int | None = None
    cost_tokens: int
    # Tokens its jobs' providers reported so far (a failed job's too, though it is charged nothing).
    usage: Usage = Usage(input_tokens=0, output_tokens=0)
    metadata: dict[str, str] | None = None
    results_url: str


class BatchList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Batch]
    has_more: bool
    next_cursor: str | None = None


class BatchCreate(BaseModel):
    """A small batch as one JSON document: `{"requests": [<batch line>, ...], ...options}`."""

    model_config = {"extra": "forbid"}
    requests: list[Any] = Field(min_length=1)
    completion_window: str = "24h"
    metadata: BatchMetadata | None = Field(default=None, max_length=METADATA_PAIRS_MAX)
    all_or_nothing: bool = Field(default=False, strict=True)
    # Its results are deleted this long after it ends (`2h`, `7d`: 1h to 30d), when sooner than the retention.
    results_expire_after: str | None = Field(default=None, max_length=16)


class BatchRefusedBody(BaseModel):
    """400 for a batch refused as a whole: the error shape plus the bad lines."""

    error: str
    status: int
    code: str
    request_id: str
    invalid_lines: int
    errors: list[LineError]


# OpenAI's bounds on an expiry policy (`files.create(expires_after=...)`, `batches.create(output_expires_after=...)`).
EXPIRES_AFTER_MIN_S = 3600
EXPIRES_AFTER_MAX_S = 2_592_000


class OpenAIExpiresAfter(BaseModel):
    """An expiry policy: this many seconds after the anchor (a file's creation; for a batch's output, the batch's
    end, when its output files are made)."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["created_at"]
    seconds: int = Field(ge=EXPIRES_AFTER_MIN_S, le=EXPIRES_AFTER_MAX_S, strict=True)


class OpenAIFile(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str = "processed"
    # When the file expires (Unix seconds); None: it is kept until deleted (a batch's output: until its retention).
    expires_at: int | None = None


class OpenAIFileList(BaseModel):
    """`files.list`: a page of the workspace's uploaded files, in OpenAI's cursor-page shape."""

    object: Literal["list"] = "list"
    data: list[OpenAIFile]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class OpenAIFileDeleted(BaseModel):
    """`files.delete`'s answer."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool


class OpenAIRequestCounts(BaseModel):
    total: int
    completed: int
    failed: int


class OpenAIBatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]


class OpenAIBatch(BaseModel):
    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: OpenAIBatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: Literal[
        "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
    ]
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: OpenAIRequestCounts
    usage: OpenAIBatchUsage | None = None
    metadata: dict[str, str] | None = None


class OpenAIInputTokensDetails(BaseModel):
    cached_tokens: int = 0


class OpenAIOutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class OpenAIBatchUsage(BaseModel):
    """OpenAI's batch `usage`: the tokens of its requests so far. The batch's tally (migration 0027) sums only the
    totals, so the cached and reasoning details read 0 here; each output line's `chat.completion` has its own."""

    input_tokens: int
    input_tokens_details: OpenAIInputTokensDetails = OpenAIInputTokensDetails()
    output_tokens: int
    output_tokens_details: OpenAIOutputTokensDetails = OpenAIOutputTokensDetails()
    total_tokens: int


class OpenAIBatchList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIBatch]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool
