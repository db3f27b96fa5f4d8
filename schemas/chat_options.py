"""OpenAI's chat parameters beyond the prompt (tools, response_format, n, penalties...), bounded, on both surfaces.

The request fields are declared once here and mixed into the native request and the OpenAI-compatible one, so
both surfaces accept the same values with the same strict types (JSON `true` is never the number 1, `"10"`
never an integer). `ChatOptions` is what travels in the job's event; `ResultChoice` is one choice of an answer.
Every collection has a named maximum: one request cannot make a job event, a provider call or a hold absurd.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.text import NO_NUL, PRINTABLE

# OpenAI's own limit is 128 tools; beyond it no provider accepts the request.
TOOLS_MAX = 128
# The serialized size of one JSON schema (a tool's parameters or a response_format schema), and its nesting.
SCHEMA_BYTES_MAX = 65_536
SCHEMA_DEPTH_MAX = 32
TOOL_DESCRIPTION_CHARS_MAX = 8192
# A tool call's arguments as the model wrote them (in the history, or in an answer).
TOOL_ARGUMENTS_CHARS_MAX = 262_144
TOOL_CALLS_PER_MESSAGE_MAX = 128
# OpenAI accepts at most 300 logit_bias entries, each bias in [-100, 100].
LOGIT_BIAS_ENTRIES_MAX = 300
LOGIT_BIAS_MAX = 100
# Choices per request: each one is held and billed, so the bound also bounds the hold.
CHOICES_MAX = 8
TOP_LOGPROBS_MAX = 20
PENALTY_MAX = 2.0
SEED_MIN = -(2**63)
SEED_MAX = 2**63 - 1
IMAGE_URL_CHARS_MAX = 20 * 1_048_576
USER_CHARS_MAX = 256
# OpenAI's prompt-cache hint: a label, bounded like `user`.
PROMPT_CACHE_KEY_CHARS_MAX = 256
# OpenAI's reasoning effort levels (openai-python's `ReasoningEffort`) and verbosity levels.
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
Verbosity = Literal["low", "medium", "high"]

_TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (an object or array counts one level)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest


def bounded_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema within the size and depth limits, with no NUL anywhere (PostgreSQL and providers refuse it)."""
    encoded = json.dumps(schema, separators=(",", ":")).encode()
    if len(encoded) > SCHEMA_BYTES_MAX:
        raise ValueError(f"schema is {len(encoded)} bytes once encoded; the limit is {SCHEMA_BYTES_MAX}")
    depth = _depth(schema)
    if depth > SCHEMA_DEPTH_MAX:
        raise ValueError(f"schema is nested {depth} levels deep; the limit is {SCHEMA_DEPTH_MAX}")
    if b"\\u0000" in encoded:
        raise ValueError("schema must not contain NUL (U+0000)")
    return schema


JsonSchema = Annotated[dict[str, Any], AfterValidator(bounded_schema)]
ToolName = Annotated[str, Field(pattern=_TOOL_NAME)]


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ToolName
    description: Annotated[str, Field(max_length=TOOL_DESCRIPTION_CHARS_MAX), NO_NUL] | None = None
    parameters: JsonSchema | None = None
    strict: bool | None = Field(default=None, strict=True)


class ToolDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ToolName


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ToolName
    arguments: Annotated[str, Field(max_length=TOOL_ARGUMENTS_CHARS_MAX), NO_NUL]


class ToolCall(BaseModel):
    """A call the model asked for: in an answer, or sent back in an assistant message of the history."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(min_length=1, max_length=256), PRINTABLE]
    type: Literal["function"] = "function"
    function: FunctionCall


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: Annotated[str, Field(pattern=_TOOL_NAME)]
    description: Annotated[str, Field(max_length=TOOL_DESCRIPTION_CHARS_MAX), NO_NUL] | None = None
    # `schema` is the wire name; the attribute is renamed so it does not shadow BaseModel's own.
    json_schema: JsonSchema | None = Field(default=None, alias="schema")
    strict: bool | None = Field(default=None, strict=True)


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type json_schema needs a json_schema")
        return self


class ImageUrl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: Annotated[str, Field(min_length=1, max_length=IMAGE_URL_CHARS_MAX), NO_NUL]
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _image_source(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "data:image/")):
            raise ValueError("an image is an http(s) URL or a data:image/... URL")
        return value


class ImagePart(BaseModel):
    """An image content part (`{"type": "image_url", "image_url": {"url": ...}}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["image_url"]
    image_url: ImageUrl


def _bounded_logit_bias(value: dict[str, int] | None) -> dict[str, int] | None:
    if value is None:
        return None
    if len(value) > LOGIT_BIAS_ENTRIES_MAX:
        raise ValueError(f"at most {LOGIT_BIAS_ENTRIES_MAX} entries, got {len(value)}")
    for token, bias in value.items():
        if not token.isascii() or not token.isdigit() or len(token) > 10:
            raise ValueError(f"keys are token ids (digits), got {token[:20]!r}")
        if not -LOGIT_BIAS_MAX <= bias <= LOGIT_BIAS_MAX:
            raise ValueError(f"biases are from -{LOGIT_BIAS_MAX} to {LOGIT_BIAS_MAX}, got {bias}")
    return value


LogitBias = Annotated[dict[str, Annotated[int, Field(strict=True)]] | None, AfterValidator(_bounded_logit_bias)]
Penalty = Annotated[float, Field(ge=-PENALTY_MAX, le=PENALTY_MAX, strict=True)]


class ChatOptionFields(BaseModel):
    """The request fields both surfaces accept beyond model, messages and sampling (mixed into each request)."""

    tools: list[ToolDefinition] | None = Field(default=None, max_length=TOOLS_MAX)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = Field(default=None, strict=True)
    response_format: ResponseFormat | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX, strict=True)
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: LogitBias = None
    user: Annotated[str, Field(max_length=USER_CHARS_MAX), PRINTABLE] | None = None
    # `user`'s successor at OpenAI: labels the end user for abuse tracking, accepted wherever `user` is.
    safety_identifier: Annotated[str, Field(max_length=USER_CHARS_MAX), PRINTABLE] | None = None
    # A caching hint: forwarded to OpenAI itself, ignored by every other provider.
    prompt_cache_key: Annotated[str, Field(max_length=PROMPT_CACHE_KEY_CHARS_MAX), PRINTABLE] | None = None
    n: int | None = Field(default=None, ge=1, le=CHOICES_MAX, strict=True)
    logprobs: bool | None = Field(default=None, strict=True)
    top_logprobs: int | None = Field(default=None, ge=0, le=TOP_LOGPROBS_MAX, strict=True)
    # Reasoning models only (capability flags): refused at the door for a model without an equivalent.
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Verbosity | None = None

    def chat_options(self) -> ChatOptions | None:
        """The options as the job carries them; None when the caller set none (the event stays as before)."""
        options = ChatOptions(
            tools=tuple(self.tools or ()),
            tool_choice=self.tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=self.response_format
            if self.response_format and self.response_format.type != "text"
            else None,
            seed=self.seed,
            frequency_penalty=self.frequency_penalty,
            presence_penalty=self.presence_penalty,
            logit_bias=self.logit_bias or None,
            user=self.user,
            safety_identifier=self.safety_identifier,
            prompt_cache_key=self.prompt_cache_key,
            n=self.n or 1,
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs,
            reasoning_effort=self.reasoning_effort,
            verbosity=self.verbosity,
        )
        return None if options == ChatOptions() else options


def check_option_consistency(fields: ChatOptionFields) -> str | None:
    """Why a combination of options is refused (OpenAI refuses the same), or None."""
    if fields.tool_choice is not None and fields.tool_choice != "none" and not fields.tools:
        return "'tool_choice' needs 'tools'"
    if isinstance(fields.tool_choice, NamedToolChoice):
        known = {tool.function.name for tool in fields.tools or ()}
        if fields.tool_choice.function.name not in known:
            return f"'tool_choice' names the tool '{fields.tool_choice.function.name}', which is not in 'tools'"
    if fields.top_logprobs is not None and not fields.logprobs:
        return "'top_logprobs' needs 'logprobs': true"
    names = [tool.function.name for tool in fields.tools or ()]
    if len(set(names)) != len(names):
        return "'tools' names the same function twice"
    return None


class ChatOptions(BaseModel):
    """The parameters a job carries to its provider, beyond the prompt and the sampling settings."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    n: int = 1
    logprobs: bool = False
    top_logprobs: int | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None

    def used(self) -> list[str]:
        """The names of the parameters set, as the caller wrote them (for capability checks)."""
        found = []
        if self.tools:
            found.append("tools")
        if self.tool_choice is not None:
            found.append("tool_choice")
        if self.response_format is not None:
            found.append(
                "response_format.json_schema" if self.response_format.type == "json_schema" else "response_format"
            )
        for name in (
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias",
            "user",
            "top_logprobs",
            "reasoning_effort",
            "verbosity",
        ):
            if getattr(self, name) is not None:
                found.append(name)
        if self.n > 1:
            found.append("n")
        if self.logprobs:
            found.append("logprobs")
        return found


class AnsweredFunction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str
    arguments: str


class AnsweredToolCall(BaseModel):
    """A tool call in a provider's answer: read leniently (the adapter already made it storable)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    type: Literal["function"] = "function"
    function: AnsweredFunction


class ToolCallDelta(BaseModel):
    """A piece of a tool call in a streamed answer, as OpenAI streams them: `index` is the call's position in
    the answer (0, 1, ...); its `id` and function `name` come on its first piece only; `arguments` is the next
    fragment of its arguments text (the pieces of one call, concatenated, are its arguments)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ResultChoice(BaseModel):
    """One choice of an answer: its text, the tool calls it asked for, why it ended, its logprobs if asked."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    index: int = 0
    text: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[AnsweredToolCall, ...] = ()
    logprobs: dict[str, Any] | None = None
