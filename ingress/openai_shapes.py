"""OpenAI's chat-completions shapes for the OpenAI-compatible surface, and their mapping to ours."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingress import openai_choices
from ingress.parsing import relevant_error
from schemas.api import (
    MAX_STOP_SEQUENCES,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    ModelName,
    RoutingHints,
    Text,
    TextPart,
    refuse_control_characters,
    refuse_nul,
)
from schemas.chat_options import ChatOptionFields, ImagePart
from schemas.errors import InvalidRequest
from schemas.results import JobResult

# OpenAI's limits on `metadata`: 16 pairs, keys of 64 characters, values of 512.
METADATA_PAIRS_MAX = 16
METADATA_KEY_CHARS_MAX = 64
METADATA_VALUE_CHARS_MAX = 512
# Fields OpenAI's SDKs send back on an assistant message they got from an answer (`model_dump()` sets them all).
_ASSISTANT_ONLY = ("refusal", "audio", "function_call", "annotations")
ANNOTATIONS_MAX = 128
# The tier every answer reports: a request may ask for "auto" or "default" only (`OpenAIChatRequest.service_tier`),
# and the gateway asks providers for no other, so "auto" resolves to "default" as it does at OpenAI.
SERVICE_TIER = "default"


class RefusalPart(BaseModel):
    """An assistant's refusal as a content part, as OpenAI's SDKs may send an earlier answer back."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["refusal"]
    refusal: Text


class OpenAIMessage(ChatMessage):
    """A message as OpenAI's SDKs send it: our message (its participant `name` included), plus the `developer`
    role and what an assistant message carries when an answer is sent back unchanged (`refusal`, `audio`,
    `function_call`, `annotations`, refusal content parts): null values are ignored, a refusal is the assistant's
    text when it has no content, and what the gateway cannot carry (`audio`, the deprecated `function_call`) is
    refused by name."""

    role: Literal["system", "developer", "user", "assistant", "tool"]  # type: ignore[assignment]
    content: str | list[TextPart | ImagePart | RefusalPart] | None = None  # type: ignore[assignment]
    refusal: Text | None = None
    audio: dict[str, Any] | None = None
    function_call: dict[str, Any] | None = None
    # Citations of an earlier answer: about that answer, not part of the conversation; dropped.
    annotations: list[dict[str, Any]] | None = Field(default=None, max_length=ANNOTATIONS_MAX)

    @field_validator("audio")
    @classmethod
    def _no_audio(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            raise ValueError(
                "an earlier audio answer cannot be referred to: the gateway answers in text only; "
                "send the assistant's text as content and leave audio out or null"
            )
        return value

    @field_validator("function_call")
    @classmethod
    def _no_function_call(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            raise ValueError("the deprecated function_call is not supported; send the call as tool_calls")
        return value

    @model_validator(mode="after")
    def _tool_fields_by_role(self) -> OpenAIMessage:
        # Replaces ChatMessage's rule of the same name: an assistant's refusal stands for its content.
        if self.role != "assistant":
            for name in _ASSISTANT_ONLY:
                if name in self.model_fields_set:
                    raise ValueError(f"'{name}' belongs to assistant messages only")
            if isinstance(self.content, list) and any(isinstance(p, RefusalPart) for p in self.content):
                raise ValueError("refusal content parts belong to assistant messages only")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a message with role tool needs tool_call_id, and only such a message has one")
        if self.content is None and not (self.role == "assistant" and (self.tool_calls or self.refusal)):
            raise ValueError(
                "content is required (it may be null only in an assistant message with tool_calls or a refusal)"
            )
        return self

    def plain(self) -> ChatMessage:
        """The message as the gateway carries it: `developer` is `system`; refusal parts are text, and a
        refusal is the assistant's text when it has none (the model should see what it said); the rest of
        OpenAI's extra fields (null audio, annotations) are left out."""
        content: str | list[ContentPart] | None
        if isinstance(self.content, list):
            content = [TextPart(type="text", text=p.refusal) if isinstance(p, RefusalPart) else p for p in self.content]
        else:
            content = self.content
        if not content and self.refusal:
            content = self.refusal
        return ChatMessage(
            role="system" if self.role == "developer" else self.role,
            content=content,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            name=self.name,
        )


def _bounded_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    """OpenAI's limits; checked here so an error names the limit, never echoes a huge key."""
    if value is None:
        return None
    if len(value) > METADATA_PAIRS_MAX:
        raise ValueError(f"at most {METADATA_PAIRS_MAX} key-value pairs, got {len(value)}")
    for key, text in value.items():
        if len(key) > METADATA_KEY_CHARS_MAX:
            raise ValueError(f"keys are at most {METADATA_KEY_CHARS_MAX} characters, got one of {len(key)}")
        refuse_control_characters(key)
        if len(text) > METADATA_VALUE_CHARS_MAX:
            raise ValueError(f"values are at most {METADATA_VALUE_CHARS_MAX} characters, got one of {len(text)}")
        refuse_nul(text)
    return value


class OpenAIChatRequest(ChatOptionFields):
    """The subset of OpenAI's request the gateway routes; anything else is refused, never silently dropped.

    A few fields are accepted with their meaning fixed here (README, "OpenAI parameters"): `store` only false
    (nothing is kept for distillation or evals), `service_tier` only auto/default, `modalities` only ["text"], and
    `metadata`, bounded to OpenAI's limits and then dropped (it labels stored completions, which there are none).
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
    metadata: Annotated[dict[str, str] | None, AfterValidator(_bounded_metadata)] = None
    store: bool | None = Field(default=None, strict=True)
    service_tier: Literal["auto", "default"] | None = None
    modalities: list[str] | None = Field(default=None, max_length=2)
    # Luntrex extensions, accepted through the SDK's `extra_body`.
    tags: list[str] = Field(default_factory=list)
    routing: RoutingHints | None = None

    @field_validator("stop")
    @classmethod
    def _storable_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return refuse_nul(value) if isinstance(value, str) else value

    @field_validator("store")
    @classmethod
    def _nothing_stored(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError(
                "true is not supported: the gateway keeps no stored completions for distillation or evals; "
                "send false or leave it out"
            )
        return value

    @field_validator("modalities")
    @classmethod
    def _text_only(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and value != ["text"]:
            raise ValueError('only ["text"] is supported: the gateway answers in text (no audio output)')
        return value


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
    messages = [m.plain() for m in request.messages]
    try:
        chat = ChatCompletionRequest(
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
    return chat.sent_as("max_completion_tokens") if request.max_completion_tokens is not None else chat


def usage(finished: JobResult) -> dict[str, Any]:
    """OpenAI's `usage`, its details always present as OpenAI sends them: 0 where the provider told nothing (audio
    and predicted outputs are never used here)."""
    return {
        "prompt_tokens": finished.input_tokens,
        "completion_tokens": finished.output_tokens,
        "total_tokens": finished.input_tokens + finished.output_tokens,
        "prompt_tokens_details": {"cached_tokens": finished.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": finished.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(finished: JobResult, *, created: int | None = None) -> dict[str, Any]:
    """A `chat.completion` object, with the Luntrex receipt (`balance_left`, `cost`) as extra fields; `created`
    (Unix seconds) defaults to now, when the answer is sent."""
    return {
        "id": finished.job_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": finished.model_id,
        "choices": openai_choices.choices(finished),
        "usage": usage(finished),
        "service_tier": SERVICE_TIER,
        "system_fingerprint": finished.system_fingerprint,
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


# A refusal names the field it is about first and in quotes, whoever raised it: `'max_tokens': ...`,
# `unsupported parameter 'store'`, `parameter 'seed' is not supported by model ...`, `'top_logprobs' needs ...`.
_NAMED_PARAM = re.compile(r"^(?:unsupported parameter |parameter )?'([A-Za-z0-9_.\[\]-]{1,200})'")


def param_named(message: str) -> str | None:
    """The request field a 400's message is about (OpenAI's `param`, which clients read to fix or drop it)."""
    found = _NAMED_PARAM.match(message)
    return found.group(1) if found else None


def error_body(message: str, status: int, code: str, request_id: str) -> dict[str, Any]:
    """OpenAI's error envelope, so the official SDKs raise their usual exceptions."""
    return {
        "error": {
            "message": message,
            # Any other 4xx (405, 415, 422...) is the caller's mistake too.
            "type": _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error"),
            # A 403 may name one too: a key's own cap on max_tokens.
            "param": param_named(message) if status < 500 else None,
            "code": code,
        },
        "status": status,
        "request_id": request_id,
    }
