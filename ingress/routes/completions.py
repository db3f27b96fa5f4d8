"""`POST /api/v1/chat/completions`: validate, publish the job, wait for its billed result or answer 202."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from ingress import rendering
from ingress.auth import Authenticated
from ingress.errors import request_id_of
from ingress.parsing import parse_chat_request
from ingress.prefer import parse_prefer
from ingress.services import Services
from ingress.submission import build_job, new_job_id
from schemas.api import ChatCompletionRequest, ChatCompletionResponse, ErrorBody, JobAccepted

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 413, 429, 502, 503, 504)
}


@router.post(
    "/api/v1/chat/completions",
    response_model=ChatCompletionResponse,
    responses={202: {"model": JobAccepted}, **_ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
        }
    },
)
async def create_completion(request: Request, principal: Authenticated) -> ORJSONResponse:
    services: Services = request.app.state.services
    settings = services.settings
    body = await request.body()
    chat = parse_chat_request(body, body_max_bytes=settings.body_max_bytes, messages_max=settings.messages_max)
    job = build_job(chat, principal, services.catalogue, job_id=new_job_id(),
                    traceparent=request.headers.get("traceparent"))
    preferences = parse_prefer(request.headers.get("prefer"))
    request_id = request_id_of(request)
    headers = {"x-request-id": request_id}
    if preferences.respond_async:
        await services.publisher.submit(job)
        return _accepted(job.job_id, job.model_id, headers | {"preference-applied": "respond-async"})

    wait_s = settings.sync_wait_default_s
    if preferences.wait_s is not None:
        wait_s = min(wait_s, preferences.wait_s)
        headers["preference-applied"] = f"wait={int(wait_s)}"
    reply = services.replies.expect(job.job_id)
    try:
        await services.publisher.submit(job)
        finished = await asyncio.wait_for(asyncio.shield(reply), timeout=wait_s)
    except TimeoutError:
        return _accepted(job.job_id, job.model_id, headers)
    finally:
        services.replies.forget(job.job_id)
    answer = rendering.completion(finished)
    return ORJSONResponse(answer.model_dump(), headers=headers)


def _accepted(job_id: str, model_id: str, headers: dict[str, str]) -> ORJSONResponse:
    """202: the job is queued and billed when it finishes; poll `Location` for the result."""
    location = f"/api/v1/jobs/{job_id}"
    body = JobAccepted(id=job_id, status="queued", model=model_id).model_dump()
    return ORJSONResponse(body, status_code=202, headers=headers | {"location": location, "retry-after": "1"})
