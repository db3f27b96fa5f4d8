"""The OpenAI-compatible surface: `POST /api/v1/openai/chat/completions`, `GET /api/v1/openai/models`.

Same keys, routing and billing as the native API; shapes are OpenAI's, so the official `openai` package
works unchanged with `base_url=<base>/openai`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ingress import openai_models, openai_shapes, openai_wait, rendering, streaming
from ingress.api_models import OpenAIChatCompletion, OpenAIErrorBody, OpenAIModelList
from ingress.auth import Authenticated
from ingress.errors import request_id_of
from ingress.http_flow import complete_from_http
from ingress.json_response import OrjsonResponse
from ingress.openapi_document import error_responses, header_refs, parameter_refs
from ingress.parsing import check_message_count, load_json_object
from ingress.services import Services
from ingress.stream_shapes import OpenAIChunks, stream_options_of

router = APIRouter(prefix="/api/v1/openai")

ENDPOINT = "/api/v1/openai/chat/completions"


@router.post(
    "/chat/completions",
    response_model=OpenAIChatCompletion,
    responses={
        200: {"headers": header_refs("Preference-Applied", "Idempotent-Replayed", "X-Request-Id")},
        **error_responses(400, 401, 403, 404, 409, 413, 429, 502, 503, 504, model=OpenAIErrorBody),
    },
    openapi_extra={
        "parameters": parameter_refs("Prefer", "Idempotency-Key"),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": openai_shapes.OpenAIChatRequest.model_json_schema()}},
        },
    },
)
async def create_chat_completion(request: Request, principal: Authenticated) -> Response:
    services: Services = request.app.state.services
    body = await request.body()
    raw = load_json_object(body, body_max_bytes=services.settings.body_max_bytes)
    check_message_count(raw, services.settings.messages_max)
    stream, include_usage = stream_options_of(raw)
    chat = openai_shapes.to_chat_request(raw)
    read_timeout = request.headers.get("x-stainless-read-timeout")
    if stream:
        chat = chat.model_copy(update={"stream": True})
        return await streaming.respond(request, principal, chat, OpenAIChunks(include_usage), _stream_waits(request))
    wait_s = openai_wait.wait_s(services.settings.openai_wait_max_s, read_timeout)
    outcome, headers = await complete_from_http(
        request, principal, chat, endpoint=ENDPOINT, body=body, wait_max_s=wait_s
    )
    if outcome.finished is None:
        keyed = request.headers.get("idempotency-key") is not None
        return openai_wait.limit_reached(outcome.job_id, wait_s, request_id_of(request), headers, keyed=keyed)
    rendering.completion(outcome.finished, headers)  # raises the job's error, translated to OpenAI's shape
    return OrjsonResponse(openai_shapes.chat_completion(outcome.finished), headers=headers)


def _stream_waits(request: Request) -> streaming.Waits:
    """A stream waits for its hold as an unstreamed call waits for its answer, and is never silent for as long as
    the client's announced read timeout (an SDK that times out retries: a new job, billed again)."""
    settings = request.app.state.services.settings
    read_timeout = request.headers.get("x-stainless-read-timeout")
    request_id = request_id_of(request)

    def wait_limit(job_id: str, waited_s: float) -> OrjsonResponse:
        return openai_wait.limit_reached(job_id, waited_s, request_id, {}, keyed=False, streamed=True)

    return streaming.Waits(
        hold_s=openai_wait.wait_s(settings.openai_wait_max_s, read_timeout),
        keepalive_s=openai_wait.wait_s(settings.stream_keepalive_s, read_timeout),
        on_wait_limit=wait_limit,
    )


@router.get("/models", response_model=OpenAIModelList, responses=error_responses(401, 403, model=OpenAIErrorBody))
async def list_models(request: Request, principal: Authenticated) -> dict[str, Any]:
    """The models the calling key may use (a key restricted to some lists only those: a client choosing from the
    list never picks one it would be refused)."""
    services: Services = request.app.state.services
    allowed = principal.power.allowed_models
    return {
        "object": "list",
        "data": [
            openai_models.model_object(name, model)
            for model in services.catalogue.models
            if allowed is None or model.id in allowed
            for name in (model.id, *model.aliases)
        ],
    }


@router.get(
    "/models/{model_id:path}",
    response_model=openai_models.OpenAIModel,
    responses={status: {"model": openai_models.OpenAIErrorBody} for status in (400, 401, 403, 404)},
)
async def retrieve_model(model_id: str, request: Request, principal: Authenticated) -> dict[str, Any]:
    """One model by id or alias (ids contain "/": `openai/gpt-4.1-mini`); 404 in OpenAI's shape if unknown, or
    not one the calling key may use."""
    services: Services = request.app.state.services
    return openai_models.retrieve(services.catalogue, model_id, principal.power.allowed_models)
