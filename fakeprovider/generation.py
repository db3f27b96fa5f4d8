"""The fake's provider-neutral answer: text, token counts and finish, before a wire format renders it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fakeprovider import tokens
from fakeprovider.scenario import Scenario, strip_directives


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a wire format extracted from a valid request."""

    model: str
    # One text per message as the provider would bill it; a top-level system prompt is one more entry.
    message_texts: Sequence[str]
    last_user_text: str
    max_tokens: int
    # The caller asked for Server-Sent Events (and, on OpenAI's format, a final usage chunk).
    stream: bool = False
    include_usage: bool = False
    # Tools, JSON mode and n choices the request asked for (fakeprovider/features.py); typed loosely here so
    # the neutral answer does not depend on any wire format.
    features: Any = None


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    # True when the output bound cut the answer short ("length" / "max_tokens" / "MAX_TOKENS").
    truncated: bool


def generate(prompt: Prompt, scenario: Scenario) -> Generation:
    """The deterministic answer; reasoning tokens spend the output bound first, as on reasoning models."""
    input_tokens = tokens.count_prompt_tokens(prompt.message_texts, prompt.model)
    reasoning = min(scenario.reasoning_tokens, prompt.max_tokens)
    wanted = tokens.DEFAULT_OUTPUT_TOKENS if scenario.output_tokens is None else scenario.output_tokens
    visible = tokens.output_token_count(prompt.max_tokens - reasoning, wanted)
    cache_read = min(scenario.cache_read_tokens, input_tokens)
    cache_creation = min(scenario.cache_creation_tokens, input_tokens - cache_read)
    text = tokens.answer_text(strip_directives(prompt.last_user_text), visible)
    if scenario.answer_text is not None:
        text = scenario.answer_text
    if scenario.answer_bytes is not None:
        text = _padded(text, scenario.answer_bytes)
    return Generation(
        text=text,
        input_tokens=input_tokens,
        output_tokens=visible,
        reasoning_tokens=reasoning,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        truncated=visible < wanted,
    )


def _padded(text: str, size_bytes: int) -> str:
    """`text` padded with ASCII (or cut) to exactly `size_bytes` UTF-8 bytes, for huge-answer scenarios."""
    encoded = text.encode()
    if len(encoded) >= size_bytes:
        return encoded[:size_bytes].decode(errors="ignore")
    return text + "x" * (size_bytes - len(encoded))


def reported(value: object, override: object) -> object:
    """A count (or fingerprint) as a wire format reports it: the true one, or the scenario's hostile value when
    set."""
    return value if override is None else override
