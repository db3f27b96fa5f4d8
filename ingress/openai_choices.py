"""A finished job's choices in OpenAI's `chat.completion` shape (tool calls, n choices, logprobs), and the
provider's finish reason in OpenAI's words.

OpenAI's `finish_reason` is one of `stop`, `length`, `tool_calls`, `content_filter` (and the legacy
`function_call`); typed SDKs decode nothing else. Providers say more (`FINISH_REASONS`):
- `content_filter`: the answer was withheld or cut because a filter flagged it: Gemini's SAFETY, RECITATION,
  BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION; Anthropic's
  `refusal`;
- `length`: the output bound (OpenAI `length`, Anthropic `max_tokens`, Gemini MAX_TOKENS);
- `tool_calls`: the answer called tools (any choice with calls says so whatever the provider said);
- `stop`: a natural end, and the reasons that are neither a filter nor a bound: Gemini's
  MALFORMED_FUNCTION_CALL (the model wrote a call Gemini could not parse: no call is returned, the text is
  what Gemini sent, often empty), LANGUAGE, OTHER, FINISH_REASON_UNSPECIFIED, NO_IMAGE, IMAGE_OTHER,
  UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS; Anthropic's `pause_turn`; a missing reason.
A reason not in the table also becomes `stop`, and is logged once per process (a new provider value to map).
The provider's own word is kept in the job (`GET /api/v1/jobs/{id}`) and on the native surface.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.chat_options import ResultChoice
from schemas.results import JobResult

log = logging.getLogger(__name__)

FINISH_REASONS = {
    # OpenAI, and OpenAI-compatible servers.
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "function_call",
    # Anthropic.
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    # Gemini.
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "NO_IMAGE": "stop",
    "IMAGE_OTHER": "stop",
}
# Unknown reasons already logged; bounded, so a provider inventing a new word per answer cannot grow it.
_UNKNOWN_LOGGED: set[str] = set()
UNKNOWN_LOGGED_MAX = 256


def openai_finish_reason(reason: str | None) -> str:
    """The provider's finish reason in OpenAI's words; an unknown one is `stop`, logged the first time."""
    if reason is None:
        return "stop"
    mapped = FINISH_REASONS.get(reason)
    if mapped is not None:
        return mapped
    if reason not in _UNKNOWN_LOGGED and len(_UNKNOWN_LOGGED) < UNKNOWN_LOGGED_MAX:
        _UNKNOWN_LOGGED.add(reason)
        log.warning(
            "unknown provider finish reason %r answered as finish_reason 'stop' on the OpenAI surface "
            "(logged once; map it in ingress/openai_choices.py FINISH_REASONS)",
            reason[:64],
        )
    return "stop"


def result_choices(finished: JobResult) -> tuple[ResultChoice, ...]:
    """Every choice of the answer; a plain answer is its one choice."""
    if finished.choices:
        return finished.choices
    return (ResultChoice(index=0, text=finished.answer or "", finish_reason=finished.finish_reason),)


def choices(finished: JobResult) -> list[dict[str, Any]]:
    rendered = []
    for choice in result_choices(finished):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None}
        finish = openai_finish_reason(choice.finish_reason)
        if choice.tool_calls:
            message["tool_calls"] = [call.model_dump(mode="json") for call in choice.tool_calls]
            finish = "tool_calls"
            # A message that only calls tools has content null, as OpenAI's does, whichever provider answered
            # (Gemini's and Anthropic's calls come with no text, read as "").
            message["content"] = choice.text or None
        elif message["content"] is None:
            message["content"] = ""
        rendered.append(
            {"index": choice.index, "message": message, "logprobs": choice.logprobs, "finish_reason": finish}
        )
    return rendered
