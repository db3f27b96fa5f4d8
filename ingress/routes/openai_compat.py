"""The OpenAI-compatible surface: `POST /api/v1/openai/chat/completions`, `GET /api/v1/openai/models`.

Same keys, routing and billing as the native API; shapes are OpenAI's, so the official `openai` package
works unchanged with `base_url=<base>/openai`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse

from ingress import flow, idempotency, openai_shapes, rendering
from ingress.auth import Authenticated
from ingress.errors import request_id_of
from ingress.parsing import check_message_count, load_json_object
from ingress.prefer import parse_prefer
from ingress.services import Services

router = APIRouter(prefix="/api/v1/openai")

ENDPOINT = "/api/v1/openai/chat/completions"


@router.post("/chat/completions")
async def create_chat_completion(request: Request, principal: Authenticated) -> ORJSONResponse:
    services: Services = request.app.state.services
    body = await request.body()
    raw = load_json_object(body, body_max_bytes=services.settings.body_max_bytes)
    check_message_count(raw, services.settings.messages_max)
    chat = openai_shapes.to_chat_request(raw)
    key_header = request.headers.get("idempotency-key")
    preferences = parse_prefer(request.headers.get("prefer"))
    outcome = await flow.complete(
        services, principal, chat, preferences,
        idempotency_key=idempotency.normalise_key(key_header) if key_header is not None else None,
        fingerprint=idempotency.request_fingerprint(ENDPOINT, body),
        traceparent=request.headers.get("traceparent"),
    )
    headers = rendering.outcome_headers(request_id_of(request), outcome, preferences)
    if outcome.finished is None:
        return rendering.accepted(outcome, headers)
    rendering.completion(outcome.finished)  # raises the job's error, translated to OpenAI's shape
    return ORJSONResponse(openai_shapes.chat_completion(outcome.finished), headers=headers)


@router.get("/models")
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

