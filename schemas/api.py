"""HTTP API shapes: exactly the fields of the public API page, plus additive fields only."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MAX_TAGS = 16
MAX_TAG_CHARS = 64
MAX_STOP_SEQUENCES = 4
MAX_MODEL_NAME_CHARS = 128

# C0 controls, DEL and C1 controls: never part of a name, a tag or an id.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def refuse_control_characters(value: str) -> str:
    found = _CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise ValueError(f"must not contain control characters (found U+{ord(found.group()):04X})")
    return value


def refuse_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and providers refuse or truncate at it. Every other character,
    # control characters included, is carried as sent.
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000)")
    return value


# A name, tag, id or model name: printable text only.
Label = Annotated[str, AfterValidator(refuse_control_characters)]
# Free text (message contents, stop sequences): anything but NUL.
Text = Annotated[str, AfterValidator(refuse_nul)]
ModelName = Annotated[Label, Field(min_length=1, max_length=MAX_MODEL_NAME_CHARS)]


class TextPart(BaseModel):
    """One element of OpenAI's content-part array; only text parts are routed today."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: Text


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    @field_validator("content")
    @classmethod
    def _storable_content(cls, value: str | list[TextPart]) -> str | list[TextPart]:
        # Checked on the field rather than in the union, so an error names `content`, not a union member.
        return refuse_nul(value) if isinstance(value, str) else value

    def text(self) -> str:
        """The message's text: content parts are joined in order."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class RoutingHints(BaseModel):
    """Optional per-request routing: models to fall back to, in order, and an upstream timeout."""

    model_config = ConfigDict(extra="forbid")
    fallbacks: list[ModelName] = Field(default_factory=list, max_length=4)
    provider_timeout_s: float | None = Field(default=None, gt=0, le=600)


class ChatCompletionRequest(BaseModel):
    """`POST /api/v1/chat/completions`: the API page's payload, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid")
    model: ModelName | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    # Strict: JSON `true` is not the number 1.
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    stop: str | list[Text] | None = None
    tags: list[Annotated[Label, Field(min_length=1, max_length=MAX_TAG_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TAGS
    )
    routing: RoutingHints | None = None
    # The URL or id of one of the workspace's registered webhook endpoints: the answer is a 202 at once and
    # the job's job.completed / job.failed event is delivered there.
    webhook: str | None = Field(default=None, min_length=1, max_length=2048)
    # Server-Sent Events instead of one JSON answer (see README, Streaming).
    stream: bool = Field(default=False, strict=True)

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        return refuse_nul(value) if isinstance(value, str) else value


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int


class ChatCompletionResponse(BaseModel):
    """The API page's response (`answer`, `usage`, `balance_left`) plus a receipt."""

    answer: str
    usage: Usage
    balance_left: int
    id: str
    model: str
    provider: str
    finish_reason: str | None
    cost: int


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
