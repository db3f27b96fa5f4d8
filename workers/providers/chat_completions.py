"""The Chat Completions wire format shared by OpenAI and OpenAI-compatible servers: body, result, errors.

Error bodies come in three shapes and all are read: OpenAI's `{"error": {"message", "type", "code"}}`,
llama.cpp's `{"error": {"code": 400, "message", "type"}}`, and old vLLM's flat
`{"object": "error", "message", "type", "code": 400}`; a non-JSON error body keeps its text as the message.
"""

from __future__ import annotations

from typing import Any

import httpx

from workers.providers import translate_openai
from workers.providers.base import ProviderCall, ProviderResult
from workers.providers.errors import (
    UpstreamError,
    error_for_status,
    protocol_failure,
    retry_after_from_headers,
)
from workers.providers.exchange import decode_object, error_message
from workers.providers.wire import (
    UsageCounts,
    WrongShapeError,
    answer_text,
    as_count,
    as_list,
    as_object,
    as_optional_str,
    fingerprint,
    part_count,
    sampling_fields,
    str_or_none,
)

# OpenAI's code for a 429 that no amount of waiting fixes (billing / hard quota).
INSUFFICIENT_QUOTA = "insufficient_quota"


def chat_payload(call: ProviderCall, max_tokens_field: str, *, openai_hints: bool) -> dict[str, Any]:
    """The request body; optional sampling fields are sent only when the caller set them. `openai_hints`: the
    server is OpenAI itself (see translate_openai.option_fields)."""
    payload: dict[str, Any] = {
        "model": call.upstream_model,
        "messages": [translate_openai.message(m) for m in call.messages],
        max_tokens_field: call.max_tokens,
    }
    payload.update(sampling_fields(call, temperature="temperature", top_p="top_p", stop="stop"))
    payload.update(translate_openai.option_fields(call.options, openai_hints=openai_hints))
    return payload


def chat_answer(body: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Text, finish reason and model of a chat.completion; raises WrongShapeError."""
    choices = as_list(body.get("choices"), "choices")
    if not choices:
        raise WrongShapeError("choices is empty")
    choice = as_object(choices[0], "choices[0]")
    message = as_object(choice.get("message"), "choices[0].message")
    content = as_optional_str(message.get("content"), "choices[0].message.content")
    # A refusal arrives with null content; it is still the answer the caller should see.
    refusal = as_optional_str(message.get("refusal"), "choices[0].message.refusal")
    text = answer_text(content if content is not None else (refusal or ""))
    finish = as_optional_str(choice.get("finish_reason"), "choices[0].finish_reason")
    return text, finish, as_optional_str(body.get("model"), "model")


def chat_usage(body: dict[str, Any]) -> UsageCounts | None:
    """The counts, or None when the server sent no usage; raises WrongShapeError."""
    usage = body.get("usage")
    if usage is None:
        return None
    return usage_counts(as_object(usage, "usage"))


def usage_counts(usage: dict[str, Any]) -> UsageCounts:
    """Prompt and completion tokens (completion already counts reasoning), and their details when the server sent
    them: `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens` (a server that has no
    details sends neither object, or null, as vLLM does)."""
    input_tokens = as_count(usage.get("prompt_tokens"), "usage.prompt_tokens")
    output_tokens = as_count(usage.get("completion_tokens"), "usage.completion_tokens")
    # A details object of the wrong shape is read as none: the details never change the bill (wire.part_count).
    prompt_details = _details(usage.get("prompt_tokens_details"))
    completion_details = _details(usage.get("completion_tokens_details"))
    return UsageCounts(
        input_tokens,
        output_tokens,
        cached_input_tokens=part_count(prompt_details.get("cached_tokens"), whole=input_tokens),
        reasoning_tokens=part_count(completion_details.get("reasoning_tokens"), whole=output_tokens),
    )


def _details(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def chat_result(
    provider: str, call: ProviderCall, response: httpx.Response, body: dict[str, Any], request_id: str | None
) -> ProviderResult:
    """The result of a server that must report usage (OpenAI itself)."""
    try:
        text, finish, model = chat_answer(body)
        usage = chat_usage(body)
        if usage is None:
            raise WrongShapeError("usage is missing")
        choices = translate_openai.rich_choices(body)
    except WrongShapeError as exc:
        raise protocol_failure(provider, f"not a chat.completion: {exc}", response) from exc
    return ProviderResult(
        text=text,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        finish_reason=finish,
        upstream_model=model or call.upstream_model,
        request_id=request_id,
        choices=choices,
        cached_input_tokens=usage.cached_input_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        system_fingerprint=fingerprint(body.get("system_fingerprint")),
    )


def chat_error(response: httpx.Response) -> UpstreamError:
    """Read any of the three error shapes."""
    body = decode_object(response)
    error: Any = body.get("error") if body is not None else None
    if body is not None and body.get("object") == "error":
        error = body
    message = error if isinstance(error, str) else error_message(error, response)
    code: str | None = None
    err_type: str | None = None
    if isinstance(error, dict):
        # llama.cpp and old vLLM put the HTTP status in `code`; only a string code is the provider's own.
        code = str_or_none(error.get("code"))
        err_type = str_or_none(error.get("type"))
    return UpstreamError(
        status=response.status_code,
        message=message,
        provider_code=code or err_type,
        quota_exhausted=INSUFFICIENT_QUOTA in {code, err_type},
        retry_after_s=retry_after_from_headers(response.headers),
        body=response.text,
    )


def raise_for_error(response: httpx.Response) -> None:
    if not response.is_success:
        raise error_for_status(chat_error(response))
