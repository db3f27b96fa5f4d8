"""HTTP API shapes: exactly the fields of the public API page, plus additive fields only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from schemas.chat_options import (
    TOOL_CALLS_PER_MESSAGE_MAX,
    AnsweredToolCall,
    ChatOptionFields,
    ImagePart,
    ResultChoice,
    ToolCall,
    check_option_consistency,
)
from schemas.text import (
    MAX_MODEL_NAME_CHARS,
    PRINTABLE,
    Label,
    ModelName,
    ParticipantName,
    Text,
    refuse_control_characters,
    refuse_nul,
)

__all__ = ["MAX_MODEL_NAME_CHARS", "Label", "ModelName", "Text", "refuse_control_characters", "refuse_nul"]

MAX_TAGS = 16
MAX_TAG_CHARS = 64
MAX_STOP_SEQUENCES = 4


class TextPart(BaseModel):
    """One text element of OpenAI's content-part array."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: Text


ContentPart = TextPart | ImagePart


class ChatMessage(BaseModel):
    """A message of the conversation: text or content parts (images only for models that accept them), an
    assistant's tool calls, or a tool's result (`role: "tool"` with the `tool_call_id` it answers); `name`, OpenAI's
    participant name, goes to OpenAI and OpenAI-compatible servers and is left out for the others (README)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    # Null or absent only for an assistant message that carries tool calls (as OpenAI sends it back).
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=TOOL_CALLS_PER_MESSAGE_MAX)
    tool_call_id: Annotated[str, Field(min_length=1, max_length=256), PRINTABLE] | None = None
    name: ParticipantName | None = None

    @field_validator("content")
    @classmethod
    def _storable_content(cls, value: str | list[ContentPart] | None) -> str | list[ContentPart] | None:
        # Checked on the field rather than in the union, so an error names `content`, not a union member.
        return refuse_nul(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tool_fields_by_role(self) -> ChatMessage:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a message with role tool needs tool_call_id, and only such a message has one")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (it may be null only in an assistant message with tool_calls)")
        return self

    def text(self) -> str:
        """The message's text: text parts are joined in order (images are not text)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    def images(self) -> list[str]:
        """The URLs of the message's image parts, in order."""
        if not isinstance(self.content, list):
            return []
        return [part.image_url.url for part in self.content if isinstance(part, ImagePart)]


class RoutingHints(BaseModel):
    """Optional per-request routing: models to fall back to, in order, and an upstream timeout."""

    model_config = ConfigDict(extra="forbid")
    # None (absent): the catalogue's fallbacks for the model; [] : none at all, the request is pinned to its model.
    fallbacks: list[ModelName] | None = Field(default=None, max_length=4)
    provider_timeout_s: float | None = Field(default=None, gt=0, le=600)


class ChatCompletionRequest(ChatOptionFields):
    """`POST /api/v1/chat/completions`: the API page's payload, unknown fields rejected; OpenAI's parameters
    (tools, response_format, n, seed, penalties...) from `ChatOptionFields`."""

    model_config = ConfigDict(extra="forbid")
    model: ModelName | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    # Strict: JSON `true` is not the number 1.
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    stop: str | list[Text] | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS), PRINTABLE]] = Field(
        default_factory=list, max_length=MAX_TAGS
    )
    routing: RoutingHints | None = None
    # The URL or id of one of the workspace's registered webhook endpoints: the answer is a 202 at once and
    # the job's job.completed / job.failed event is delivered there.
    webhook: str | None = Field(default=None, min_length=1, max_length=2048)
    # Server-Sent Events instead of one JSON answer (see README, Streaming).
    stream: bool = Field(default=False, strict=True)
    # The name the caller gave `max_tokens` (OpenAI's `max_completion_tokens`), so a refusal names what was sent.
    _max_tokens_param: str = PrivateAttr(default="max_tokens")

    @property
    def max_tokens_param(self) -> str:
        return self._max_tokens_param

    def sent_as(self, max_tokens_param: str) -> ChatCompletionRequest:
        """This request, its `max_tokens` having been sent under the name `max_tokens_param`."""
        self._max_tokens_param = max_tokens_param
        return self

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return refuse_nul(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent_options(self) -> ChatCompletionRequest:
        problem = check_option_consistency(self)
        if problem is not None:
            raise ValueError(problem)
        return self


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int


class AnswerUsage(Usage):
    """An answer's usage: the billed totals, then each detail of them the provider told: prompt tokens read from its
    cache (part of `input_tokens`, billed at the model's cached-input price) and reasoning tokens (part of
    `output_tokens`, never billed apart). A detail is present only when above 0, so an answer without details keeps
    exactly the API page's `usage`."""

    cached_input_tokens: int | None = Field(default=None, exclude_if=lambda count: count is None)
    reasoning_tokens: int | None = Field(default=None, exclude_if=lambda count: count is None)


class ChatCompletionResponse(BaseModel):
    """The API page's response (`answer`, `usage`, `balance_left`) plus a receipt."""

    answer: str
    usage: AnswerUsage
    balance_left: int
    id: str
    model: str
    provider: str
    finish_reason: str | None
    cost: int
    # Additive: the tool calls of the (first) answer, and every choice when more than one was asked for or the
    # answer has tool calls or logprobs. Absent (null) otherwise, so the API page's shape is unchanged.
    tool_calls: list[AnsweredToolCall] | None = None
    choices: list[ResultChoice] | None = None


class JobAccepted(BaseModel):
    """202 body: the job is queued (or still running) and can be polled at `Location`."""

    id: str
    status: str
    model: str


class ErrorBody(BaseModel):
    """The API page's error payload, plus a stable code and the request id."""

    error: str
    status: int
    code: str
    request_id: str
    retry_after: int | None = None


class ModelInfo(BaseModel):
    id: str
    owned_by: str
    aliases: list[str]
    input_multiplier: str
    output_multiplier: str
    max_output_tokens: int
    context_tokens: int


class ModelList(BaseModel):
    data: list[ModelInfo]
