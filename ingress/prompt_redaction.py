"""Redaction of a prompt before it leaves the ingress: which of its texts are rewritten, and how.

Rewritten: every message's text; every tool call's arguments in the history, inside their JSON strings so they
stay the JSON they were (runtime/guardrails.py: `redact_json`); every tool's description; the response schema's
description. Only checked (deny rules, `max_prompt_chars`), never rewritten, because a rewrite would break what
they are: tool and tool call names and ids (names the caller's code dispatches on), messages' participant names,
tool parameters and the response schema (the shape the caller expects back), image URLs (a rewritten URL points
nowhere).

A marker may be longer than what it hides: a rewritten text past its field's bound is a 400 naming it, as the
request would have been had it been sent that long (the worker would refuse the event otherwise).
"""

from __future__ import annotations

from collections import Counter

from runtime.guardrails import GuardrailEngine
from schemas.chat_options import TOOL_ARGUMENTS_CHARS_MAX, TOOL_DESCRIPTION_CHARS_MAX, ChatOptions, ToolCall
from schemas.errors import InvalidRequest
from schemas.events import PromptMessage


def redacted_messages(
    messages: tuple[PromptMessage, ...], engine: GuardrailEngine
) -> tuple[tuple[PromptMessage, ...], Counter[str]]:
    """The messages with their texts and tool call arguments redacted (the same tuple when nothing was)."""
    counts: Counter[str] = Counter()
    out: list[PromptMessage] = []
    for message in messages:
        result = engine.redact(message.content)
        counts.update(result.counts)
        calls = tuple(_redacted_call(call, engine, counts) for call in message.tool_calls)
        update: dict[str, object] = {}
        if result.counts:
            update["content"] = result.text
        if calls != message.tool_calls:
            update["tool_calls"] = calls
        out.append(message.model_copy(update=update) if update else message)
    return (tuple(out) if counts else messages), counts


def _redacted_call(call: ToolCall, engine: GuardrailEngine, counts: Counter[str]) -> ToolCall:
    result = engine.redact_json(call.function.arguments)
    if not result.counts:
        return call
    _within(result.text, TOOL_ARGUMENTS_CHARS_MAX, f"the arguments of the tool call '{call.id}'")
    counts.update(result.counts)
    return call.model_copy(update={"function": call.function.model_copy(update={"arguments": result.text})})


def redacted_options(options: ChatOptions | None, engine: GuardrailEngine) -> tuple[ChatOptions | None, Counter[str]]:
    """The options with the tools' descriptions and the response schema's description redacted."""
    counts: Counter[str] = Counter()
    if options is None:
        return options, counts
    tools = []
    for tool in options.tools:
        description = tool.function.description
        result = engine.redact(description) if description else None
        if result is None or not result.counts:
            tools.append(tool)
            continue
        _within(result.text, TOOL_DESCRIPTION_CHARS_MAX, f"the description of the tool '{tool.function.name}'")
        counts.update(result.counts)
        function = tool.function.model_copy(update={"description": result.text})
        tools.append(tool.model_copy(update={"function": function}))
    update: dict[str, object] = {"tools": tuple(tools)} if counts else {}
    response_format = options.response_format
    schema = response_format.json_schema if response_format is not None else None
    if response_format is not None and schema is not None and schema.description:
        result = engine.redact(schema.description)
        if result.counts:
            _within(result.text, TOOL_DESCRIPTION_CHARS_MAX, "the description of the response schema")
            counts.update(result.counts)
            rewritten = schema.model_copy(update={"description": result.text})
            update["response_format"] = response_format.model_copy(update={"json_schema": rewritten})
    return (options.model_copy(update=update) if update else options), counts


def _within(text: str, chars_max: int, what: str) -> None:
    if len(text) > chars_max:
        raise InvalidRequest(f"{what} would be {len(text)} characters once redacted; the limit is {chars_max}")
