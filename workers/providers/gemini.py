"""The Gemini generateContent adapter: `POST {base_url}/v1beta/models/{model}:generateContent`.

The key travels in the `x-goog-api-key` header (never in the URL, where it would reach access logs).
Roles map user -> user and assistant -> model; system messages become `systemInstruction`. Errors are
google.rpc statuses: a bad key is a 400 whose details carry reason API_KEY_INVALID, and the retry delay
comes from a RetryInfo detail ("30s"), not from a header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from workers.providers import translate_gemini
from workers.providers.base import ProviderCall, ProviderConfig, ProviderRejected, ProviderResult
from workers.providers.errors import (
    CONTENT_BLOCKED,
    UpstreamError,
    error_for_status,
    protocol_failure,
    retry_after_from_headers,
    seconds_from_google_duration,
)
from workers.providers.exchange import (
    error_member,
    error_message,
    post_json,
    required_api_key,
    success_object,
)
from workers.providers.wire import (
    UsageCounts,
    WrongShapeError,
    as_count,
    as_list,
    as_object,
    as_optional_str,
    count_total,
    part_count,
    sampling_fields,
    str_or_none,
)

ROLE_NAMES = {"user": "user", "assistant": "model"}
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
API_KEY_INVALID = "API_KEY_INVALID"


class GeminiAdapter:
    """`base_url` is the API root without the version (e.g. https://generativelanguage.googleapis.com)."""

    def __init__(self, config: ProviderConfig) -> None:
        api_key = required_api_key(config, "gemini")
        self.name = config.name
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._headers = {"x-goog-api-key": api_key, "content-type": "application/json"}

    async def complete(self, call: ProviderCall) -> ProviderResult:
        model = call.upstream_model.removeprefix("models/")
        url = f"{self._base_url}/v1beta/models/{quote(model, safe='')}:generateContent"
        response = await post_json(self._config, url, self._headers, _payload(call), call.timeout_s)
        if not response.is_success:
            raise error_for_status(_error(response))
        body = success_object(self.name, response)
        try:
            return self._result(call, body, response)
        except WrongShapeError as exc:
            raise protocol_failure(self.name, f"not a GenerateContentResponse: {exc}", response) from exc

    def _result(self, call: ProviderCall, body: dict[str, Any], response: httpx.Response) -> ProviderResult:
        usage = as_object(body.get("usageMetadata"), "usageMetadata")
        candidates = as_list(body.get("candidates", []), "candidates")
        if not candidates:
            feedback = as_object(body.get("promptFeedback", {}), "promptFeedback")
            reason = as_optional_str(feedback.get("blockReason"), "promptFeedback.blockReason")
            if reason is None:
                raise WrongShapeError("no candidates and no promptFeedback.blockReason")
            raise ProviderRejected(
                f"{self.name}: the prompt was blocked ({reason})",
                retriable=False,
                status=response.status_code,
                code=CONTENT_BLOCKED,
                provider_body=response.text,
            )
        # A candidate stopped for SAFETY may come without content; its text is then empty.
        first = translate_gemini.candidate_choice(0, as_object(candidates[0], "candidates[0]"))
        counts = usage_counts(usage)
        return ProviderResult(
            text=first.text or "",
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            cached_input_tokens=counts.cached_input_tokens,
            reasoning_tokens=counts.reasoning_tokens,
            finish_reason=first.finish_reason,
            upstream_model=as_optional_str(body.get("modelVersion"), "modelVersion") or call.upstream_model,
            request_id=as_optional_str(body.get("responseId"), "responseId"),
            choices=translate_gemini.answer_choices(candidates),
        )


def usage_counts(usage: dict[str, Any]) -> UsageCounts:
    """A `usageMetadata`'s counts. Gemini omits zero counters; thinking tokens are billed as output (the output is
    candidates plus thoughts) and are its reasoning tokens; `cachedContentTokenCount` is part of the prompt."""
    input_tokens = as_count(usage.get("promptTokenCount"), "usageMetadata.promptTokenCount")
    thoughts = as_count(usage.get("thoughtsTokenCount"), "thoughtsTokenCount", missing_is_zero=True)
    output_tokens = count_total(
        (as_count(usage.get("candidatesTokenCount"), "candidatesTokenCount", missing_is_zero=True), thoughts),
        "usageMetadata output tokens",
    )
    cached = part_count(usage.get("cachedContentTokenCount"), whole=input_tokens)
    return UsageCounts(input_tokens, output_tokens, cached_input_tokens=cached, reasoning_tokens=thoughts)


def _payload(call: ProviderCall) -> dict[str, Any]:
    system, contents = translate_gemini.contents(call.messages)
    config: dict[str, Any] = {"maxOutputTokens": call.max_tokens}
    config.update(sampling_fields(call, temperature="temperature", top_p="topP", stop="stopSequences"))
    config.update(translate_gemini.generation_fields(call.options))
    payload: dict[str, Any] = {"contents": contents, "generationConfig": config}
    payload.update(translate_gemini.request_fields(call.options))
    if system is not None:
        payload["systemInstruction"] = {"parts": [{"text": system}]}
    return payload


def _error(response: httpx.Response) -> UpstreamError:
    error = error_member(response)
    status_name = None
    key_invalid = False
    retry_after_s = retry_after_from_headers(response.headers)
    if isinstance(error, dict):
        status_name = str_or_none(error.get("status"))
        details = error.get("details")
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            if detail.get("reason") == API_KEY_INVALID:
                key_invalid = True
            if detail.get("@type") == RETRY_INFO_TYPE:
                retry_after_s = seconds_from_google_duration(detail.get("retryDelay")) or retry_after_s
    return UpstreamError(
        status=response.status_code,
        message=error_message(error, response),
        provider_code=API_KEY_INVALID if key_invalid else status_name,
        key_invalid=key_invalid,
        retry_after_s=retry_after_s,
        body=response.text,
    )
