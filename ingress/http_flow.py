"""Runs a parsed completion from an HTTP request: reads the headers the flow honours, returns its headers.

Both HTTP surfaces share this; they differ only in how they parse the body and render the result.
"""

from __future__ import annotations

from fastapi import Request

from ingress import flow, idempotency, rendering
from ingress.errors import request_id_of
from ingress.keys import Principal
from ingress.prefer import parse_prefer
from ingress.services import Services
from schemas.api import ChatCompletionRequest


async def complete_from_http(
    request: Request, principal: Principal, chat: ChatCompletionRequest, *, endpoint: str, body: bytes
) -> tuple[flow.Outcome, dict[str, str]]:
    services: Services = request.app.state.services
    key_header = request.headers.get("idempotency-key")
    preferences = parse_prefer(request.headers.get("prefer"))
    outcome = await flow.complete(
        services,
        principal,
        chat,
        preferences,
        idempotency_key=idempotency.normalise_key(key_header) if key_header is not None else None,
        fingerprint=idempotency.request_fingerprint(endpoint, body),
        traceparent=request.headers.get("traceparent"),
    )
    return outcome, rendering.outcome_headers(request_id_of(request), outcome, preferences)
