"""Runs a parsed completion from an HTTP request: reads the headers the flow honours, returns its headers.

Both HTTP surfaces share this; they differ only in how they parse the body and render the result.
"""

from __future__ import annotations

import dataclasses
import re
import time

from fastapi import Request

from ingress import flow, idempotency, rendering, submission
from ingress import metrics as telemetry_hooks
from ingress.errors import request_id_of
from ingress.keys import Principal
from ingress.prefer import Preferences, parse_prefer
from ingress.services import Services
from schemas.api import ChatCompletionRequest

# W3C Trace Context, version 00; anything else is dropped, as the spec says, rather than carried along.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


async def complete_from_http(
    request: Request,
    principal: Principal,
    chat: ChatCompletionRequest,
    *,
    endpoint: str,
    body: bytes,
    webhook_endpoint_id: str | None = None,
    wait_max_s: float | None = None,
) -> tuple[flow.Outcome, dict[str, str]]:
    """`wait_max_s`: the surface's own wait (the OpenAI one never answers 202, so it ignores `Prefer` too)."""
    services: Services = request.app.state.services
    started_s = time.perf_counter()
    telemetry_hooks.note_model(request, chat.model or principal.default_model or services.catalogue.default_model)
    key_header = request.headers.get("idempotency-key")
    idempotency_key = idempotency.normalise_key(key_header) if key_header is not None else None
    preferences = parse_prefer(request.headers.get("prefer")) if wait_max_s is None else Preferences()
    if webhook_endpoint_id is not None:
        # The result goes to the webhook: the caller is answered 202 at once, as with respond-async.
        preferences = dataclasses.replace(preferences, respond_async=True)
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and not _TRACEPARENT.fullmatch(traceparent):
        traceparent = None
    event_max_bytes = services.settings.kafka_message_max_bytes
    if submission.may_exceed(len(body), event_max_bytes):
        probe = submission.build_job(
            chat, principal, services.catalogue, job_id=submission.new_job_id(), traceparent=traceparent
        )
        submission.check_event_size(probe, event_max_bytes)
    outcome = await flow.complete(
        services,
        principal,
        chat,
        preferences,
        idempotency_key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(endpoint, body),
        traceparent=traceparent,
        webhook_endpoint_id=webhook_endpoint_id,
        wait_max_s=wait_max_s,
    )
    if outcome.finished is not None and not outcome.replayed:
        telemetry_hooks.observe_result(
            request, outcome.finished.model_id or outcome.model_id, outcome.finished.status, started_s
        )
    return outcome, rendering.outcome_headers(request_id_of(request), outcome, preferences)
