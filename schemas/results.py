"""One job's result, as settlement recorded it: the one record every renderer and finance reader reads.

Settlement builds it, the ledger publishes it inside `JobFinished` (which is a `JobResult` plus the event
envelope), the book stores every field of it on the job's row, and `ledger.queries.job` reads it back for
polls. The native answer, the polled job and the OpenAI shape all render from it, so nothing a caller or a
finance reader needs is dropped between settlement and the response.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.chat_options import ResultChoice

ResultStatus = Literal["completed", "failed", "rejected", "expired"]


class JobError(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    code: str
    message: str
    retry_after_s: int | None = None


class PriceUsed(BaseModel):
    """The answering model's multipliers recorded at admission: exact rationals as "n/d" text, in credit
    tokens per provider token."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    input: str
    output: str
    # What each input token read from the provider's prompt cache cost. None: a result of a ledger from before cache
    # reads were priced apart (they cost the input price).
    cached_input: str | None = None


class JobResult(BaseModel):
    """A finished (or refused) job: what it cost, what it answered, and how the bill was made."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    workspace_id: str
    job_id: str
    status: ResultStatus
    # The model that answered (a fallback's when the route fell back), else the one asked for.
    model_id: str
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    answer: str | None = None
    finish_reason: str | None = None
    # Credit tokens debited; with `unbilled_tokens` it is the priced cost, of which `overrun_tokens` went
    # past the hold.
    cost_tokens: int = 0
    balance_left: int
    error: JobError | None = None
    # The provider reported no counts: the adapter estimated them (billed, flagged for finance).
    usage_estimated: bool = False
    # Provider calls the worker made (0: none, or not recorded).
    attempts: int = 0
    overrun_tokens: int = 0
    unbilled_tokens: int = 0
    price: PriceUsed | None = None
    # A streamed job: milliseconds from the start of the answering provider call to its first text.
    first_token_ms: int | None = None
    # Every choice when the answer has more than `answer` and `finish_reason` say (n > 1, tool calls, logprobs);
    # empty otherwise. `answer` and `finish_reason` are always the first choice's.
    choices: tuple[ResultChoice, ...] = ()
    # What the provider told of its counts, shown to callers: prompt tokens read from its cache (part of
    # `input_tokens`, billed at the cached-input price) and reasoning tokens (part of `output_tokens`, never billed
    # apart), 0 when it did not say; and the
    # backend configuration that answered (OpenAI's `system_fingerprint`), None when it gave none.
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    system_fingerprint: str | None = None

    def usage_counts(self) -> dict[str, int]:
        """The native `usage` object: the API page's two totals, then each detail of them the provider told (a
        count above 0), so an answer without details keeps exactly the page's shape."""
        counts = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        if self.cached_input_tokens:
            counts["cached_input_tokens"] = self.cached_input_tokens
        if self.reasoning_tokens:
            counts["reasoning_tokens"] = self.reasoning_tokens
        return counts


def result_status(status: str) -> ResultStatus:
    """A finished job's stored status as a result's; one outside the four (`cancelled`) reads as failed."""
    statuses: dict[str, ResultStatus] = {"completed": "completed", "rejected": "rejected", "expired": "expired"}
    return statuses.get(status, "failed")
