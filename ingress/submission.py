"""Resolves a validated request against the catalogue into the job the ledger will admit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from ingress import estimate, guardrail_check, key_policy, option_checks
from ingress.key_policy import Principal
from schemas.api import ChatCompletionRequest, ChatMessage
from schemas.catalogue import Catalogue, ModelEntry
from schemas.errors import ErrorCode, InvalidRequest, NotFound, PayloadTooLarge
from schemas.events import ChatJobSubmitted, ChatParameters, PromptMessage, encode

# Room, within the Kafka record limit, for what the ledger adds when it republishes the job as
# `ChatJobDispatched` (hold, lane, deadline: tens of bytes) and for the record's key, headers and framing.
EVENT_HEADROOM_BYTES = 16_384
# What a job's event can add to the request body it came from: envelope, ids, the resolved route, defaulted
# parameters. Text is never re-encoded longer than JSON can carry it, so the event of a body of n bytes is
# at most n + this (tests/test_event_size_properties.py checks the bound).
EVENT_OVERHEAD_MAX_BYTES = 8_192


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex}"


def resolve_model(catalogue: Catalogue, name: str) -> ModelEntry:
    model = catalogue.resolve(name)
    if model is None:
        raise NotFound(
            f"model '{name}' does not exist; GET /api/v1/models lists the models you can use",
            code=ErrorCode.MODEL_NOT_FOUND,
        )
    return model


def build_job(
    request: ChatCompletionRequest,
    principal: Principal,
    catalogue: Catalogue,
    *,
    job_id: str,
    traceparent: str | None = None,
    deadline_at: datetime | None = None,
    webhook_endpoint_id: str | None = None,
    lane: Literal["interactive", "batch"] = "interactive",
) -> ChatJobSubmitted:
    model = resolve_model(catalogue, request.model or principal.default_model or catalogue.default_model)
    # The key's own limits (allowed models, a max_tokens cap) are checked at the door, before any credit moves.
    param = request.max_tokens_param
    max_tokens = key_policy.max_tokens_for(principal, request.max_tokens, model.default_max_tokens, param=param)
    if max_tokens > model.max_output_tokens:
        raise InvalidRequest(
            f"'{param}': {max_tokens} exceeds {model.id}'s limit of {model.max_output_tokens} output tokens"
        )
    messages = tuple(prompt_message(m) for m in request.messages)
    options = request.chat_options()
    contents = [m.content for m in messages]
    if estimate.input_tokens_floor(contents) + max_tokens > model.context_tokens:
        raise InvalidRequest(
            f"'{param}': the prompt plus {param} exceeds {model.id}'s context of {model.context_tokens} tokens"
        )
    asked = request.routing.fallbacks if request.routing else None
    fallbacks = model.fallbacks if asked is None else asked
    route = [model]
    for name in fallbacks:
        fallback = resolve_model(catalogue, name)
        if fallback.id not in [m.id for m in route]:
            route.append(fallback)
    allowed = set(key_policy.allowed_route(principal, [m.id for m in route]))
    route = [m for m in route if m.id in allowed]
    if route:
        route = option_checks.check_route(catalogue, route, options, messages)
    stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
    params = ChatParameters(
        messages=messages,
        max_tokens=max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop=stop,
        tags=tuple(request.tags),
        routing=request.routing,
        stream=request.stream,
        options=options,
    )
    job = ChatJobSubmitted(
        workspace_id=principal.workspace_id,
        job_id=job_id,
        traceparent=traceparent,
        api_key_id=principal.key_id,
        model_id=model.id,
        route=tuple(m.id for m in route),
        input_tokens_estimate=_input_tokens_estimate(params, route),
        deadline_at=deadline_at,
        webhook_endpoint_id=webhook_endpoint_id,
        lane=lane,
        params=params,
    )
    sets = principal.guardrail_sets()
    if not sets:
        return job
    checked = guardrail_check.apply(job, sets)
    if checked.params.messages is job.params.messages and checked.params.options is job.params.options:
        return checked
    # Redaction changed the prompt: estimate what is actually sent (a marker may be longer than what it hides).
    kept = [m for m in route if m.id in checked.route]
    return checked.model_copy(update={"input_tokens_estimate": _input_tokens_estimate(checked.params, kept)})


def _input_tokens_estimate(params: ChatParameters, route: Sequence[ModelEntry]) -> int:
    """The ceiling over the whole route: whichever model answers (a fallback's chat template may add more than the
    first model's), the prompt's text, tools, schema and images are within the hold."""
    contents = [message.content for message in params.messages]
    return (
        estimate.route_input_tokens_ceiling(contents, route)
        + estimate.option_tokens_ceiling(params.options, params.messages)
        + estimate.image_tokens_ceiling(params.messages, route)
    )


def prompt_message(message: ChatMessage) -> PromptMessage:
    """A request message as the job carries it: flattened text, plus tool calls, tool call id, images and name."""
    return PromptMessage(
        role=message.role,
        content=message.text(),
        tool_calls=tuple(message.tool_calls or ()),
        tool_call_id=message.tool_call_id,
        images=tuple(message.images()),
        name=message.name,
    )


def may_exceed(body_bytes: int, event_max_bytes: int) -> bool:
    """Whether a request body this long could make an event over the limit; if not, no need to measure."""
    return body_bytes + EVENT_OVERHEAD_MAX_BYTES + EVENT_HEADROOM_BYTES > event_max_bytes


def check_event_size(job: ChatJobSubmitted, event_max_bytes: int) -> None:
    """Refuse at the door a job whose event the queue would refuse, so it never fails inside the pipeline."""
    size_bytes = len(encode(job))
    limit_bytes = event_max_bytes - EVENT_HEADROOM_BYTES
    if size_bytes > limit_bytes:
        raise PayloadTooLarge(
            f"this request makes a job of {size_bytes} bytes once encoded; the job queue takes at most "
            f"{limit_bytes}: send a shorter prompt"
        )
