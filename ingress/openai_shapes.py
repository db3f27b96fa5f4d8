"""OpenAI's chat-completions shapes for the OpenAI-compatible surface, and their mapping to ours."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from ingress import openai_choices
from ingress.parsing import relevant_error
from schemas.api import (
    MAX_STOP_SEQUENCES,
    ChatCompletionRequest,
    ChatMessage,
    Label,
    ModelName,
    RoutingHints,
    Text,
    refuse_nul,
)
from schemas.chat_options import ChatOptionFields
from schemas.errors import InvalidRequest
from schemas.results import JobResult
from schemas.text import PRINTABLE


class OpenAIMessage(ChatMessage):
    """A message as OpenAI's SDKs send it: our message, plus the `developer` role and a participant `name`."""

    role: Literal["system", "developer", "user", "assistant", "tool"]  # type: ignore[assignment]
    name: Annotated[str, Field(max_length=256), PRINTABLE] | None = None


class OpenAIChatRequest(ChatOptionFields):
    """The subset of OpenAI's request the gateway routes; anything else is refused, never silently dropped.

    Types are as strict as the native route's: `max_tokens` given as `"10"`, `10.0` or `true` is a 400."""

    model_config = ConfigDict(extra="forbid")
    model: ModelName
    messages: list[OpenAIMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_completion_tokens: int | None = Field(default=None, ge=1, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    stop: str | list[Text] | None = None
    stream: Literal[False] | None = None
    metadata: dict[Label, Text] | None = Field(default=None, max_length=16)
    # Luntrex extensions, accepted through the SDK's `extra_body`.
    tags: list[str] = Field(default_factory=list)
    routing: RoutingHints | None = None

    @field_validator("stop")
    @classmethod
    def _storable_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return refuse_nul(value) if isinstance(value, str) else value


def to_chat_request(raw: dict[str, Any]) -> ChatCompletionRequest:
    try:
        request = OpenAIChatRequest.model_validate(raw)
    except ValidationError as exc:
        first, where = relevant_error(exc)
        if first["type"] == "extra_forbidden":
            raise InvalidRequest(f"unsupported parameter '{where}'") from exc
        if where == "stream":
            raise InvalidRequest(f"'{where}' is not supported: only non-streaming completions") from exc
        raise InvalidRequest(f"'{where}': {first['msg']}" if where else first["msg"]) from exc
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise InvalidRequest("send either max_tokens or max_completion_tokens, not both")
    messages = [
        ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=m.content,
            tool_calls=m.tool_calls,
            tool_call_id=m.tool_call_id,
        )
        for m in request.messages
    ]
    try:
        return ChatCompletionRequest(
            model=request.model,
            messages=messages,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            tags=request.tags,
            routing=request.routing,
            **{name: getattr(request, name) for name in ChatOptionFields.model_fields},
        )
    except ValidationError as exc:
        first, where = relevant_error(exc)
        raise InvalidRequest(f"'{where}': {first['msg']}" if where else first["msg"]) from exc


def chat_completion(finished: JobResult, *, created: int | None = None) -> dict[str, Any]:
    """A `chat.completion` object, with the Luntrex receipt (`balance_left`, `cost`) as extra fields; `created`
    (Unix seconds) defaults to now, when the answer is sent."""
    return {
        "id": finished.job_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": finished.model_id,
        "choices": openai_choices.choices(finished),
        "usage": {
            "prompt_tokens": finished.input_tokens,
            "completion_tokens": finished.output_tokens,
            "total_tokens": finished.input_tokens + finished.output_tokens,
        },
        "provider": finished.provider,
        "balance_left": finished.balance_left,
        "cost": finished.cost_tokens,
    }


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    431: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(message: str, status: int, code: str, request_id: str) -> dict[str, Any]:
    """OpenAI's error envelope, so the official SDKs raise their usual exceptions."""
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": code,
        },
        "status": status,
        "request_id": request_id,
    }
