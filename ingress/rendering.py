"""Renders finished jobs as API bodies: the sync answer, a polled job, or the error a caller sees."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingress.json_response import OrjsonResponse
from ingress.prefer import Preferences
from ledger.queries import JobState
from schemas.api import AnswerUsage, ChatCompletionResponse, JobAccepted
from schemas.errors import ErrorCode, LuntrexError, spec_of
from schemas.results import JobResult

if TYPE_CHECKING:
    from ingress.flow import Outcome


class JobFailed(LuntrexError):
    """A job reached a terminal failure; carries the status its code maps to, and the answer's headers (a
    replayed failure still says `Idempotent-Replayed`)."""

    def __init__(
        self, code: str, message: str, retry_after_s: int | None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.code = ErrorCode(code) if code in ErrorCode._value2member_map_ else ErrorCode.UPSTREAM_ERROR
        self.status = spec_of(self.code).status
        self.headers = headers or {}


def completion(finished: JobResult, headers: dict[str, str] | None = None) -> ChatCompletionResponse:
    """The API page's answer for a completed job, or the job's error raised for the handler to translate."""
    if finished.status != "completed":
        error = finished.error
        if error is None:
            raise JobFailed(ErrorCode.UPSTREAM_ERROR, "the job failed", None, headers)
        if error.code == ErrorCode.INSUFFICIENT_CREDITS:
            raise JobFailed(error.code, "Insufficient credits", None, headers)
        raise JobFailed(error.code, error.message, error.retry_after_s, headers)
    return ChatCompletionResponse(
        answer=finished.answer or "",
        usage=AnswerUsage(**finished.usage_counts()),
        balance_left=finished.balance_left,
        id=finished.job_id,
        model=finished.model_id,
        provider=finished.provider or "",
        finish_reason=finished.finish_reason,
        cost=finished.cost_tokens,
        # Additive fields, set only when the answer has more than `answer` says.
        tool_calls=list(finished.choices[0].tool_calls)
        if finished.choices and finished.choices[0].tool_calls
        else None,
        choices=list(finished.choices) if finished.choices else None,
    )


def answer_body(answer: ChatCompletionResponse) -> dict[str, Any]:
    """The answer as JSON; the additive `tool_calls` and `choices` only when set, so a plain answer keeps
    exactly the API page's fields."""
    return answer.model_dump(
        mode="json", exclude={name for name in ("tool_calls", "choices") if getattr(answer, name) is None}
    )


def polled_job(job: JobState) -> dict[str, Any]:
    """A job's state; once completed it carries exactly the synchronous answer's fields."""
    body: dict[str, Any] = {"id": job.id, "status": job.status, "model": job.model_id, "tags": job.tags}
    if job.guardrails:
        body["guardrails"] = job.guardrails
    result = job.result
    if result is None:
        return body
    if result.status == "completed":
        body.update(answer_body(completion(result)))
    elif result.error is not None:
        body["error"] = result.error.model_dump()
        body["balance_left"] = result.balance_left
    return body


def outcome_headers(request_id: str, outcome: Outcome, preferences: Preferences) -> dict[str, str]:
    headers = {"x-request-id": request_id}
    if outcome.replayed:
        headers["idempotent-replayed"] = "true"
    applied = []
    if preferences.respond_async:
        applied.append("respond-async")
    if outcome.wait_applied_s is not None:
        applied.append(f"wait={int(outcome.wait_applied_s)}")
    if applied:
        headers["preference-applied"] = ", ".join(applied)
    return headers


def accepted(outcome: Outcome, headers: dict[str, str]) -> OrjsonResponse:
    """202: the job is queued or running and is billed when it finishes; poll `Location` for the result."""
    body = JobAccepted(id=outcome.job_id, status="queued", model=outcome.model_id).model_dump()
    location = f"/api/v1/jobs/{outcome.job_id}"
    return OrjsonResponse(body, status_code=202, headers=headers | {"location": location, "retry-after": "1"})
