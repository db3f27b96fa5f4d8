"""The Anthropic Messages adapter: `POST {base_url}/v1/messages` with `x-api-key` and a pinned API version.

Reshaping the prompt: system messages go to the top-level `system` (joined by blank lines); consecutive
same-role messages are merged, since Anthropic requires alternating roles starting with `user`. A prompt
that still does not start with a user turn, or a temperature outside 0..1 (Anthropic's range, half of
OpenAI's), is refused before sending rather than silently changed.
"""

from __future__ import annotations

from typing import Any

import httpx

from workers.providers import translate_anthropic
from workers.providers.base import ProviderCall, ProviderConfig, ProviderResult
from workers.providers.errors import (
    UpstreamError,
    error_for_status,
    protocol_failure,
    rejected_before_sending,
    retry_after_from_headers,
)
from workers.providers.exchange import (
    error_member,
    error_message,
    post_json,
    required_api_key,
    success_object,
)
from workers.providers.wire import (
    WrongShapeError,
    answer_text,
    as_count,
    as_list,
    as_object,
    as_optional_str,
    count_total,
    sampling_fields,
    str_or_none,
)

ANTHROPIC_VERSION = "2023-06-01"
# A 429 with this error code is a workspace spend limit: it carries no retry-after and waiting does not help.
SPEND_LIMIT_CODE = "enforced_spend_limit_reached"


class AnthropicAdapter:
    """`base_url` is the API root without `/v1` (e.g. https://api.anthropic.com)."""

    def __init__(self, config: ProviderConfig) -> None:
        api_key = required_api_key(config, "anthropic")
        self.name = config.name
        self._config = config
        self._url = config.base_url.rstrip("/") + "/v1/messages"
        self._headers = {
            "x-api-key": api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }

    async def complete(self, call: ProviderCall) -> ProviderResult:
        payload = self._payload(call)
        response = await post_json(self._config, self._url, self._headers, payload, call.timeout_s)
        if not response.is_success:
            raise error_for_status(_error(response))
        body = success_object(self.name, response)
        try:
            return _result(call, body, response.headers.get("request-id"))
        except WrongShapeError as exc:
            raise protocol_failure(self.name, f"not a message: {exc}", response) from exc

    def _payload(self, call: ProviderCall) -> dict[str, Any]:
        try:
            system, turns = translate_anthropic.turns(call.messages)
        except translate_anthropic.UntranslatableError as exc:
            raise rejected_before_sending(self.name, str(exc)) from exc
        if not turns or turns[0]["role"] != "user":
            raise rejected_before_sending(
                self.name,
                "Anthropic needs the conversation (after system messages) to start with a user message",
            )
        if call.temperature is not None and not 0 <= call.temperature <= 1:
            raise rejected_before_sending(self.name, f"Anthropic accepts temperature 0..1, got {call.temperature:g}")
        payload: dict[str, Any] = {
            "model": call.upstream_model,
            "max_tokens": call.max_tokens,
            "messages": turns,
        }
        if system is not None:
            payload["system"] = system
        payload.update(sampling_fields(call, temperature="temperature", top_p="top_p", stop="stop_sequences"))
        payload.update(translate_anthropic.option_fields(call.options))
        return payload


def _result(call: ProviderCall, body: dict[str, Any], request_id: str | None) -> ProviderResult:
    texts = []
    content = as_list(body.get("content"), "content")
    for index, block in enumerate(content):
        block = as_object(block, f"content[{index}]")
        if block.get("type") == "text":
            text = as_optional_str(block.get("text"), f"content[{index}].text")
            texts.append(text or "")
    usage = as_object(body.get("usage"), "usage")
    input_tokens, cached_input_tokens = input_counts(usage)
    return ProviderResult(
        text=answer_text("".join(texts)),
        input_tokens=input_tokens,
        cached_input_tokens=cached_input_tokens,
        output_tokens=as_count(usage.get("output_tokens"), "usage.output_tokens"),
        finish_reason=as_optional_str(body.get("stop_reason"), "stop_reason"),
        upstream_model=as_optional_str(body.get("model"), "model") or call.upstream_model,
        request_id=request_id,
        choices=translate_anthropic.answer_choices(content, as_optional_str(body.get("stop_reason"), "stop_reason")),
    )


def input_counts(usage: dict[str, Any]) -> tuple[int, int]:
    """The whole prompt and the part of it read from the cache. Anthropic's input_tokens excludes cached prompt
    tokens: the whole prompt is the sum of the three counters. Tokens written to the cache are not cached input
    (OpenAI's `cached_tokens` counts cache hits only). Thinking tokens are not reported apart from output_tokens,
    so an Anthropic answer's reasoning tokens read 0."""
    counts = (
        as_count(usage.get("input_tokens"), "usage.input_tokens"),
        as_count(usage.get("cache_creation_input_tokens"), "usage.cache_creation", missing_is_zero=True),
        as_count(usage.get("cache_read_input_tokens"), "usage.cache_read", missing_is_zero=True),
    )
    return count_total(counts, "usage input tokens"), counts[2]


def _error(response: httpx.Response) -> UpstreamError:
    error = error_member(response)
    err_type = None
    details_code = None
    if isinstance(error, dict):
        err_type = str_or_none(error.get("type"))
        details = error.get("details")
        if isinstance(details, dict):
            details_code = str_or_none(details.get("error_code"))
    return UpstreamError(
        status=response.status_code,
        message=error_message(error, response),
        provider_code=details_code or err_type,
        quota_exhausted=details_code == SPEND_LIMIT_CODE or err_type == "billing_error",
        retry_after_s=retry_after_from_headers(response.headers),
        body=response.text,
    )
