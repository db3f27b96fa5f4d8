"""The OpenAI-compatible surface: `POST /api/v1/openai/chat/completions`, `GET /api/v1/openai/models`.

Same keys, routing and billing as the native API; shapes are OpenAI's, so the official `openai` package
works unchanged with `base_url=<base>/openai`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from ingress import openai_shapes, rendering
from ingress.api_models import OpenAIChatCompletion, OpenAIErrorBody, OpenAIModelList
from ingress.auth import Authenticated
from ingress.http_flow import complete_from_http
from ingress.openapi_document import error_responses, header_refs, parameter_refs
from ingress.parsing import check_message_count, load_json_object
from ingress.services import Services
from schemas.api import JobAccepted

router = APIRouter(prefix="/api/v1/openai")

ENDPOINT = "/api/v1/openai/chat/completions"


@router.post(
    "/chat/completions",
    response_model=OpenAIChatCompletion,
    responses={
        200: {"headers": header_refs("Preference-Applied", "Idempotent-Replayed", "X-Request-Id")},
        202: {"model": JobAccepted, "description": "accepted; the wait ended first: poll `Location`"},
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
async def create_chat_completion(request: Request, principal: Authenticated) -> ORJSONResponse:
    services: Services = request.app.state.services
    body = await request.body()
    raw = load_json_object(body, body_max_bytes=services.settings.body_max_bytes)
    check_message_count(raw, services.settings.messages_max)
    chat = openai_shapes.to_chat_request(raw)
    outcome, headers = await complete_from_http(request, principal, chat, endpoint=ENDPOINT, body=body)
    if outcome.finished is None:
        return rendering.accepted(outcome, headers)
    rendering.completion(outcome.finished, headers)  # raises the job's error, translated to OpenAI's shape
    return ORJSONResponse(openai_shapes.chat_completion(outcome.finished), headers=headers)


@router.get("/models", response_model=OpenAIModelList, responses=error_responses(401, 403, model=OpenAIErrorBody))
async def list_models(request: Request, _principal: Authenticated) -> dict[str, Any]:
    services: Services = request.app.state.services
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": model.id.split("/", 1)[0]}
            for model in services.catalogue.models
            for name in (model.id, *model.aliases)
        ],
    }
