"""A finished job's choices in OpenAI's `chat.completion` shape (tool calls, n choices, logprobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.chat_options import ResultChoice
from schemas.results import JobResult


def result_choices(finished: JobResult) -> tuple[ResultChoice, ...]:
    """Every choice of the answer; a plain answer is its one choice."""
    if finished.choices:
        return finished.choices
    return (ResultChoice(index=0, text=finished.answer or "", finish_reason=finished.finish_reason),)


def choices(finished: JobResult, finish_reasons: Mapping[str, str]) -> list[dict[str, Any]]:
    rendered = []
    for choice in result_choices(finished):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None}
        finish = finish_reasons.get(choice.finish_reason or "stop", "stop")
        if choice.tool_calls:
            message["tool_calls"] = [call.model_dump(mode="json") for call in choice.tool_calls]
            finish = "tool_calls"
        elif message["content"] is None:
            message["content"] = ""
        rendered.append(
            {"index": choice.index, "message": message, "logprobs": choice.logprobs, "finish_reason": finish}
        )
    return rendered
