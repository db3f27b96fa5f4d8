"""The fake's Gemini generateContent wire format: API keys, contents, usageMetadata, google.rpc errors."""

from __future__ import annotations

from typing import Any

from fakeprovider import features, gemini_schema
from fakeprovider.generation import Generation, Prompt, reported
from fakeprovider.reply import ProviderRequest, Reply, json_reply
from fakeprovider.scenario import Scenario

DEFAULT_MAX_OUTPUT_TOKENS = 8192

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def _error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _invalid(message: str) -> Reply:
    return json_reply(400, _error_body(400, message))


def _duration_text(seconds: float) -> str:
    """google.protobuf.Duration in JSON: decimal seconds with an `s` suffix ("30s", "1.5s")."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _parts_text(content: object) -> str | None:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return None
    texts = []
    for part in content["parts"]:
        if not isinstance(part, dict):
            return None
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    """Proto-JSON accepts both spellings on input; camelCase is canonical."""
    return body.get(camel, body.get(snake))


class GeminiWire:
    def check_auth(self, request: ProviderRequest) -> Reply | None:
        headers = request.headers
        key = headers.get("x-goog-api-key") or request.query.get("key", "")
        if key and not key.startswith("invalid"):
            return None
        details = [
            {
                "@type": ERROR_INFO,
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        return json_reply(400, _error_body(400, "API key not valid. Please pass a valid API key.", details))

    def parse(self, request: ProviderRequest) -> Prompt | Reply:
        body = request.body
        if not isinstance(body, dict):
            return _invalid("Invalid JSON payload received. Expected an object.")
        if not request.path_model:
            return json_reply(404, _error_body(404, "models/ is not found for API version v1beta."))
        texts: list[str] = []
        system = _field(body, "systemInstruction", "system_instruction")
        if system is not None:
            system_text = _parts_text(system)
            if system_text is None:
                return _invalid("Invalid value at 'system_instruction': expected Content with parts.")
            texts.append(system_text)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return _invalid("* GenerateContentRequest.contents: contents is not specified")
        last_user = ""
        for index, content in enumerate(contents):
            role = content.get("role", "user") if isinstance(content, dict) else None
            if role not in {"user", "model"}:
                return _invalid("Please use a valid role: user, model.")
            text = _parts_text(content)
            if text is None:
                return _invalid(f"Invalid value at 'contents[{index}]': expected Content with parts.")
            texts.append(text)
            if role == "user":
                last_user = text
        config = _field(body, "generationConfig", "generation_config") or {}
        if not isinstance(config, dict):
            return _invalid("Invalid value at 'generation_config': expected an object.")
        max_tokens = _field(config, "maxOutputTokens", "max_output_tokens")
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_OUTPUT_TOKENS
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return _invalid("generation_config.max_output_tokens must be a positive integer.")
        temperature = config.get("temperature")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
            return _invalid("generation_config.temperature must be in [0.0, 2.0].")
        unknown = gemini_schema.violations(body, config)
        if unknown:
            return json_reply(400, gemini_schema.error_body(unknown))
        return Prompt(
            model=request.path_model,
            message_texts=texts,
            last_user_text=last_user,
            max_tokens=max_tokens,
            features=features.from_gemini(body),
        )

    def error(
        self,
        status: int,
        code: str | None,
        retry_after_s: float | None,
        request_id: str,  # noqa: ARG002 - Google errors carry no request id; the signature is the protocol's
        scripted_message: str | None = None,
    ) -> Reply:
        details: list[dict[str, Any]] = []
        if status == 429:
            message = "You exceeded your current quota, please check your plan and billing details (fake provider)."
            details.append(
                {
                    "@type": QUOTA_FAILURE,
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        }
                    ],
                }
            )
        else:
            message = f"The fake provider failed this request with status {status}, as scripted."
        if scripted_message is not None:
            message = scripted_message
        if code is not None:
            details.append({"@type": ERROR_INFO, "reason": code, "domain": "googleapis.com"})
        if retry_after_s is not None:
            details.append({"@type": RETRY_INFO, "retryDelay": _duration_text(retry_after_s)})
        return json_reply(status, _error_body(status, message, details))

    def success(self, prompt: Prompt, generation: Generation, scenario: Scenario, request_id: str) -> Reply:
        wanted = features.scripted(prompt.features, scenario)
        candidates = features.gemini_candidates(wanted, generation)
        generation = features.billed(generation, wanted)
        usage: dict[str, Any] = {
            "promptTokenCount": reported(generation.input_tokens, scenario.usage_input_tokens),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": generation.input_tokens}],
        }
        payload: dict[str, Any] = {
            "modelVersion": prompt.model,
            "responseId": request_id,
            "usageMetadata": usage,
        }
        if scenario.block_reason is not None:
            usage["totalTokenCount"] = generation.input_tokens
            payload["promptFeedback"] = {"blockReason": scenario.block_reason, "safetyRatings": []}
            return json_reply(200, payload)
        output = generation.output_tokens + generation.reasoning_tokens
        usage["candidatesTokenCount"] = reported(generation.output_tokens, scenario.usage_output_tokens)
        usage["totalTokenCount"] = generation.input_tokens + output
        # Gemini omits zero-valued counters rather than sending 0.
        if generation.reasoning_tokens or scenario.usage_reasoning_tokens is not None:
            usage["thoughtsTokenCount"] = reported(generation.reasoning_tokens, scenario.usage_reasoning_tokens)
        if generation.cache_read_tokens or scenario.usage_cached_tokens is not None:
            usage["cachedContentTokenCount"] = reported(generation.cache_read_tokens, scenario.usage_cached_tokens)
        payload["candidates"] = candidates
        return json_reply(200, payload)
