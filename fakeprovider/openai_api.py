"""The fake's OpenAI Chat Completions wire format, in two flavours: OpenAI itself and an old vLLM server.

The OpenAI flavour requires a Bearer key, sends `x-ratelimit-*` headers and wraps errors in
`{"error": {...}}`. The vLLM flavour needs no key, sends no rate-limit headers and uses vLLM's old flat
error shape `{"object": "error", "message", "type", "param", "code": <status>}`.
"""

from __future__ import annotations

import time
from typing import Any

from fakeprovider import features
from fakeprovider.generation import Generation, Prompt, reported
from fakeprovider.reply import ProviderRequest, Reply, json_reply
from fakeprovider.scenario import Scenario

REASONING_MODEL_PREFIXES = ("gpt-5", "o1", "o3", "o4")
DEFAULT_MAX_TOKENS = 4096
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
RATE_LIMIT_REQUESTS = 10_000
RATE_LIMIT_TOKENS = 30_000_000

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", None),
}
VLLM_ERROR_TYPES = {
    400: "BadRequestError",
    401: "Unauthorized",
    404: "NotFoundError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


def _text_of(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if content is None:
        return ""
    return None


class OpenAIWire:
    def __init__(self, *, vllm: bool) -> None:
        self.vllm = vllm

    def _error_body(
        self, status: int, message: str, err_type: str, code: str | None, param: str | None = None
    ) -> dict[str, Any]:
        if self.vllm:
            return {
                "object": "error",
                "message": message,
                "type": VLLM_ERROR_TYPES.get(status, "BadRequestError"),
                "param": param,
                "code": status,
            }
        return {"error": {"message": message, "type": err_type, "param": param, "code": code}}

    def _invalid(self, message: str, param: str | None = None, code: str | None = None) -> Reply:
        return json_reply(400, self._error_body(400, message, "invalid_request_error", code, param))

    def check_auth(self, request: ProviderRequest) -> Reply | None:
        headers = request.headers
        if self.vllm:
            return None
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key.strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return json_reply(401, self._error_body(401, message, "invalid_request_error", None))
        if key.startswith("invalid"):
            message = f"Incorrect API key provided: {key[:8]}****. You can find your API key at the dashboard."
            return json_reply(401, self._error_body(401, message, "invalid_request_error", "invalid_api_key"))
        return None

    def parse(self, request: ProviderRequest) -> Prompt | Reply:
        body = request.body
        if not isinstance(body, dict):
            return self._invalid("We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._invalid("you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._invalid("'messages' must be a non-empty array.", param="messages")
        texts: list[str] = []
        last_user = ""
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            text = _text_of(message.get("content")) if isinstance(message, dict) else None
            if role not in ROLES or text is None:
                return self._invalid(f"Invalid value for 'messages[{index}]'.", param=f"messages[{index}]")
            texts.append(text)
            if role == "user":
                last_user = text
        if not self.vllm and "max_tokens" in body and model.startswith(REASONING_MODEL_PREFIXES):
            return self._invalid(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                param="max_tokens",
                code="unsupported_parameter",
            )
        bound = body.get("max_completion_tokens", body.get("max_tokens", DEFAULT_MAX_TOKENS))
        if bound is None:
            bound = DEFAULT_MAX_TOKENS
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
            return self._invalid("Invalid 'max_tokens': expected an integer >= 1.", param="max_tokens")
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
            return self._invalid(
                f"Invalid 'temperature': expected a value between 0 and 2, but got {temperature} instead.",
                param="temperature",
                code="decimal_above_max_value",
            )
        options = body.get("stream_options")
        return Prompt(
            model=model,
            message_texts=texts,
            last_user_text=last_user,
            max_tokens=bound,
            stream=body.get("stream") is True,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            features=features.from_openai(body),
        )

    def _headers(self, request_id: str, tokens_used: int, *, limited: bool) -> dict[str, str]:
        if self.vllm:
            return {}
        return {
            "x-request-id": request_id,
            "openai-processing-ms": "1",
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
            "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
            "x-ratelimit-remaining-requests": "0" if limited else str(RATE_LIMIT_REQUESTS - 1),
            "x-ratelimit-remaining-tokens": "0" if limited else str(RATE_LIMIT_TOKENS - tokens_used),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "0s",
        }

    def error(
        self,
        status: int,
        code: str | None,
        retry_after_s: float | None,
        request_id: str,
        scripted_message: str | None = None,
    ) -> Reply:
        err_type, default_code = ERROR_TYPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        code = code or default_code
        if code == "insufficient_quota":
            err_type = "insufficient_quota"
            message = "You exceeded your current quota, please check your plan and billing details."
        elif status == 429:
            message = "Rate limit reached for requests (fake provider). Please try again later."
        else:
            message = f"The fake provider failed this request with status {status}, as scripted."
        if scripted_message is not None:
            message = scripted_message
        headers = self._headers(request_id, 0, limited=status == 429)
        if retry_after_s is not None:
            headers["retry-after"] = _seconds_text(retry_after_s)
        return json_reply(status, self._error_body(status, message, err_type, code), headers)

    def success(self, prompt: Prompt, generation: Generation, scenario: Scenario, request_id: str) -> Reply:
        wanted = features.scripted(prompt.features, scenario)
        choices = features.openai_choices(wanted, generation)
        generation = features.billed(generation, wanted)
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": choices,
            "service_tier": "default",
            "system_fingerprint": reported("fp_fakeprovider", scenario.system_fingerprint),
        }
        completion = generation.output_tokens + generation.reasoning_tokens
        if not scenario.omit_usage:
            payload["usage"] = {
                "prompt_tokens": reported(generation.input_tokens, scenario.usage_input_tokens),
                "completion_tokens": reported(completion, scenario.usage_output_tokens),
                "total_tokens": generation.input_tokens + completion,
                "prompt_tokens_details": {
                    "cached_tokens": reported(generation.cache_read_tokens, scenario.usage_cached_tokens),
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": reported(generation.reasoning_tokens, scenario.usage_reasoning_tokens),
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        headers = self._headers(request_id, generation.input_tokens + completion, limited=False)
        return json_reply(200, payload, headers)


def _seconds_text(seconds: float) -> str:
    """`retry-after` carries whole seconds on the wire; round up so a client never retries early."""
    whole = int(seconds)
    return str(whole if whole == seconds else whole + 1)
