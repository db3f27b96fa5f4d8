"""`POST /api/v1/chat/completions`: the API page's endpoint, sync with a bounded wait, or 202 and a job."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ingress import rendering, streaming
from ingress.auth import Authenticated
from ingress.http_flow import complete_from_http
from ingress.json_response import OrjsonResponse
from ingress.openapi_document import error_responses, header_refs, parameter_refs
from ingress.parsing import parse_chat_request
from ingress.request_webhook import registered_endpoint
from ingress.services import Services
from ingress.stream_shapes import NativeEvents
from schemas.api import ChatCompletionRequest, ChatCompletionResponse, JobAccepted
from schemas.errors import InvalidRequest

router = APIRouter()

ENDPOINT = "/api/v1/chat/completions"
# The answer's headers: what was honoured of `Prefer`, and whether it replays an `Idempotency-Key`.
_ANSWER_HEADERS = header_refs("Preference-Applied", "Idempotent-Replayed", "X-Request-Id")


@router.post(
    ENDPOINT,
    response_model=ChatCompletionResponse,
    responses={
        200: {"headers": _ANSWER_HEADERS},
        202: {
            "model": JobAccepted,
            "description": "accepted; the wait ended first (or `Prefer: respond-async`): poll `Location`",
            "headers": _ANSWER_HEADERS | header_refs("Location", "Retry-After"),
        },
        **error_responses(400, 401, 403, 404, 409, 413, 429, 502, 503, 504),
    },
    openapi_extra={
        "parameters": parameter_refs("Prefer", "Idempotency-Key"),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
        },
    },
)
async def create_completion(request: Request, principal: Authenticated) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    body = await request.body()
    chat = parse_chat_request(body, body_max_bytes=settings.body_max_bytes, messages_max=settings.messages_max)
    if chat.stream:
        if chat.webhook is not None:
            raise InvalidRequest("'stream' and 'webhook' cannot be combined: a stream is answered on this connection")
        # The native surface has no 408: a stream not held within the sync wait starts (200) all the same.
        waits = streaming.Waits(hold_s=settings.sync_wait_default_s, keepalive_s=settings.stream_keepalive_s)
        return await streaming.respond(request, principal, chat, NativeEvents(), waits)
    # A per-request webhook answers 202 at once; the job's job.* event goes to that registered endpoint.
    webhook_endpoint_id = await registered_endpoint(services, principal.workspace_id, chat.webhook)
    outcome, headers = await complete_from_http(
        request, principal, chat, endpoint=ENDPOINT, body=body, webhook_endpoint_id=webhook_endpoint_id
    )
    if outcome.finished is None:
        return rendering.accepted(outcome, headers)
    answer = rendering.completion(outcome.finished, headers)
    return OrjsonResponse(rendering.answer_body(answer), headers=headers)
