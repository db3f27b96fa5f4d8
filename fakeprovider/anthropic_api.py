"""The fake's Anthropic Messages wire format: headers, validation, `message` bodies and typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fakeprovider import features
from fakeprovider.generation import Generation, Prompt, reported
from fakeprovider.reply import ProviderRequest, Reply, json_reply
from fakeprovider.scenario import Scenario

RATE_LIMIT_REQUESTS = 4_000
RATE_LIMIT_TOKENS = 2_000_000

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    429: "Number of request tokens has exceeded your per-minute rate limit (fake provider).",
    529: "Overloaded",
}


def _error_body(status: int, message: str, request_id: str, error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": ERROR_TYPES.get(status, "api_error"), "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": request_id}


def _invalid(message: str) -> Reply:
    return json_reply(400, _error_body(400, message, "req_fake_invalid"))


def _text_of(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for block in content:
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                return None
            if block["type"] == "text":
                if not isinstance(block.get("text"), str):
                    return None
                texts.append(block["text"])
        return "\n".join(texts)
    return None


def _rate_headers(request_id: str, *, limited: bool) -> dict[str, str]:
    reset = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "request-id": request_id,
        "anthropic-ratelimit-requests-limit": str(RATE_LIMIT_REQUESTS),
        "anthropic-ratelimit-requests-remaining": "0" if limited else str(RATE_LIMIT_REQUESTS - 1),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-remaining": "0" if limited else str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-reset": reset,
    }


class AnthropicWire:
    def check_auth(self, request: ProviderRequest) -> Reply | None:
        headers = request.headers
        key = headers.get("x-api-key", "")
        if not key:
            return json_reply(401, _error_body(401, "x-api-key header is required", "req_fake_auth"))
        if key.startswith("invalid"):
            return json_reply(401, _error_body(401, "invalid x-api-key", "req_fake_auth"))
        if not headers.get("anthropic-version"):
            return _invalid("anthropic-version: header is required")
        return None

    def parse(self, request: ProviderRequest) -> Prompt | Reply:
        body = request.body
        if not isinstance(body, dict):
            return _invalid("There was an issue with your request body: it is not a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _invalid("model: Field required")
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return _invalid("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return _invalid("max_tokens: Input should be greater than or equal to 1")
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
            return _invalid("temperature: Input should be less than or equal to 1")
        texts: list[str] = []
        system = body.get("system")
        if system is not None:
            system_text = _text_of(system)
            if system_text is None:
                return _invalid("system: Input should be a valid string or a list of text blocks")
            texts.append(system_text)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _invalid("messages: at least one message is required")
        last_user = ""
        previous_role = None
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role == "system":
                return _invalid(
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.'
                )
            if role not in {"user", "assistant"}:
                return _invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
            if index == 0 and role != "user":
                return _invalid('messages: first message must use the "user" role')
            if role == previous_role:
                return _invalid(
                    f'messages: roles must alternate between "user" and "assistant", '
                    f'but found multiple "{role}" roles in a row'
                )
            text = _text_of(message.get("content"))
            if text is None:
                return _invalid(f"messages.{index}.content: Input should be a valid string or list of blocks")
            texts.append(text)
            previous_role = role
            if role == "user":
                last_user = text
        return Prompt(
            model=model,
            message_texts=texts,
            last_user_text=last_user,
            max_tokens=max_tokens,
            stream=body.get("stream") is True,
            features=features.from_anthropic(body),
        )

    def error(
        self,
        status: int,
        code: str | None,
        retry_after_s: float | None,
        request_id: str,
        scripted_message: str | None = None,
    ) -> Reply:
        headers = _rate_headers(request_id, limited=status == 429)
        if code == "enforced_spend_limit_reached":
            # Anthropic sends no retry-after here: waiting does not lift a spend limit.
            message = "You have reached your specified workspace API usage limits (fake provider)."
            return json_reply(status, _error_body(status, message, request_id, code), headers)
        if retry_after_s is not None:
            headers["retry-after"] = str(int(-(-retry_after_s // 1)))
        message = ERROR_MESSAGES.get(status, f"The fake provider failed this request with status {status}.")
        if scripted_message is not None:
            message = scripted_message
        return json_reply(status, _error_body(status, message, request_id, code), headers)

    def success(
        self,
        prompt: Prompt,
        generation: Generation,
        scenario: Scenario,
        request_id: str,
    ) -> Reply:
        content, stop_reason = features.anthropic_content(features.scripted(prompt.features, scenario), generation)
        payload = {
            "id": f"msg_{request_id}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                # Anthropic bills cached prompt tokens separately: input_tokens excludes them.
                "input_tokens": reported(
                    generation.input_tokens - generation.cache_read_tokens - generation.cache_creation_tokens,
                    scenario.usage_input_tokens,
                ),
                "cache_creation_input_tokens": generation.cache_creation_tokens,
                "cache_read_input_tokens": reported(generation.cache_read_tokens, scenario.usage_cached_tokens),
                "output_tokens": reported(
                    generation.output_tokens + generation.reasoning_tokens, scenario.usage_output_tokens
                ),
                "service_tier": "standard",
            },
        }
        return json_reply(200, payload, _rate_headers(request_id, limited=False))
